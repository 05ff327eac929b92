"""Shipping labels as PDF (A6, the size label printers take), drawn with fpdf2.

A label prints the carrier, the service level, the tracking code in clear and
as a Code 39 barcode, the routing code, the carton and weight, the sender and
the recipient. The core fonts are Latin-1 only: other characters print as
``?`` rather than failing the label. Pages are stored uncompressed: a label is
a few kilobytes, and its text stays searchable by plain tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fpdf import FPDF

A6_MM = (105.0, 148.0)


def _latin1(value: Any) -> str:
    return str(value).encode("latin-1", "replace").decode("latin-1")


def render_label(
    *,
    tracking_code: str,
    carrier: str,
    service_level: str,
    carton: str,
    weight_grams: int,
    routing_code: str | None,
    sender: Mapping[str, str],
    recipient: Mapping[str, Any],
) -> bytes:
    """The label as PDF bytes (starts with ``%PDF``)."""
    pdf = FPDF(orientation="P", unit="mm", format=A6_MM)
    pdf.set_compression(False)
    pdf.set_title(f"{carrier} {tracking_code}")
    pdf.set_creator("PakLog shipping")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(6, 6, 6)
    pdf.add_page()
    width = A6_MM[0] - 12

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(width * 0.6, 9, _latin1(carrier))
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(width * 0.4, 9, _latin1(service_level), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.line(6, pdf.get_y() + 1, A6_MM[0] - 6, pdf.get_y() + 1)
    pdf.ln(3)

    pdf.set_font("Helvetica", "", 7)
    pdf.cell(width, 3.5, "FROM", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for line in _address_lines(sender):
        pdf.cell(width, 3.8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font("Helvetica", "", 7)
    pdf.cell(width, 3.5, "SHIP TO", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    for line in _address_lines(recipient):
        pdf.cell(width, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    pdf.set_font("Helvetica", "", 8)
    details = f"Carton {carton}   Weight {weight_grams / 1000:.2f} kg"
    if routing_code:
        details += f"   Route {routing_code}"
    pdf.cell(width, 4, _latin1(details), new_x="LMARGIN", new_y="NEXT")
    pdf.line(6, pdf.get_y() + 2, A6_MM[0] - 6, pdf.get_y() + 2)

    # Code 39 takes upper-case letters and digits; a bar 0.3 mm narrow fits 14 characters in the width.
    code = "".join(ch for ch in tracking_code.upper() if ch.isalnum())
    pdf.code39(f"*{code}*", x=8, y=pdf.get_y() + 6, w=0.9 * min(1.0, 16 / max(len(code) + 2, 1)), h=22)
    pdf.set_y(pdf.get_y() + 31)
    pdf.set_font("Courier", "B", 13)
    pdf.cell(width, 6, _latin1(tracking_code), align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _address_lines(address: Mapping[str, Any]) -> list[str]:
    lines = [address.get("name", ""), address.get("line1", "")]
    lines.append(f"{address.get('postal_code', '')} {address.get('city', '')}".strip())
    lines.append(str(address.get("country", "")))
    return [_latin1(line)[:48] for line in lines if line]
