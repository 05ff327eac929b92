import { describe, expect, it } from "vitest";
import { paymentWords } from "../src/words";

describe("words", () => {
  it("says a payment's state in words, and unknown ones as they are", () => {
    expect(paymentWords("VOIDED")).toBe("Released (not charged)");
    expect(paymentWords("CAPTURED")).toBe("Charged");
    expect(paymentWords("CHARGED_BACK")).toBe("charged back");
    expect(paymentWords(null)).toBe("—");
  });
});
