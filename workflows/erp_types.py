"""The master-data import's contract: ErpImport and ErpSync inputs, queries and results, and their activities' types.

Kept apart from the workflow classes (like :mod:`workflows.warehouse_types`)
so the activities, the gateway, the CLI and the bench import plain
dataclasses, and the worker passes this module through the sandbox once.
Nothing here holds a row of master data: an activity fetches, converts and
posts a page itself and answers counts and the new watermark only, so the
workflow history stays small however large the ERP is. See ``docs/erp.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.common import RetryPolicy

ERP_IMPORT_WORKFLOW_NAME = "ErpImport"
ERP_SYNC_WORKFLOW_NAME = "ErpSync"
#: The Temporal Schedule that starts an ErpSync every ``PAKLOG_ERP_SYNC_INTERVAL_SECONDS``.
ERP_SCHEDULE_ID = "erp-sync"
#: The workflow id of the Schedule's runs (Temporal appends the scheduled time).
ERP_SYNC_RUN_ID = "erp-sync-run"
#: ``paklog erp backfill`` runs are ``erp-backfill-<time>``.
ERP_BACKFILL_ID_PREFIX = "erp-backfill"

MATERIALS = "materials"
CUSTOMERS = "customers"
STOCK = "stock"
#: The order ErpSync imports them in: stock rows need their materials.
ENTITIES: tuple[str, ...] = (MATERIALS, CUSTOMERS, STOCK)

DEFAULT_PAGE_SIZE = 500
#: The ERP's ``$top`` limit, and the receiving endpoints' item limit.
MAX_PAGE_SIZE = 1000
DEFAULT_PAGES_PER_RUN = 40

# Error types: retrying cannot change these answers.
UNKNOWN_ENTITY = "UnknownEntity"
INVALID_ERP_DATA = "InvalidErpData"
BAD_IMPORT_INPUT = "BadImportInput"


def import_workflow_id(entity: str) -> str:
    """The business key of one entity's import: two imports of one entity never run at once."""
    return f"erp-sync-{entity}"


# -- the activities' types ---------------------------------------------------------------
@dataclass(frozen=True)
class Watermark:
    """The position of the last row committed: the ERP's ``(LastChangedAt, key)`` of that row.

    ``changed_at`` is kept exactly as the ERP wrote it (ISO 8601, UTC,
    microseconds), so the ``$skiptoken`` built from it names the same row.
    """

    changed_at: str
    key: str

    def skiptoken(self) -> str:
        """The ERP's ``$skiptoken``: rows strictly after this position."""
        return f"{self.changed_at}|{self.key}"


@dataclass(frozen=True)
class EntityRef:
    entity: str


@dataclass(frozen=True)
class StoredWatermark:
    """``erp.load_watermark``: what the owning service committed last (none before the first import)."""

    entity: str
    watermark: Watermark | None
    rows: int = 0


@dataclass(frozen=True)
class ImportPage:
    """``erp.import_page``: the page after ``watermark`` (none: from the start)."""

    entity: str
    watermark: Watermark | None
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class PageImported:
    """One committed page: counts and the new watermark (the same one when the page was empty)."""

    entity: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    #: Rows the service refused (stock below what is reserved: ``StockBelowReserved``).
    rejected: int
    #: Stock rows of SKUs the service does not know (their material was not imported yet).
    unknown: int
    watermark: Watermark | None
    #: The ERP has rows after this page.
    more: bool


# -- ErpImport ------------------------------------------------------------------------------
@dataclass
class ImportProgress:
    """The ``progress`` query, the totals a continued run carries, and (with ``seconds``) the result."""

    entity: str
    pages: int = 0
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    unknown: int = 0
    watermark: Watermark | None = None
    #: When the first run of the chain started (ISO 8601, UTC; workflow time).
    started_at: str = ""
    done: bool = False
    #: Workflow time since ``started_at``: so far in the query, in all in the result.
    seconds: float = 0.0
    #: Runs of the chain so far (1 + each continue-as-new).
    runs: int = 1

    def add(self, page: PageImported) -> None:
        self.pages += 1
        self.rows += page.rows
        self.inserted += page.inserted
        self.updated += page.updated
        self.unchanged += page.unchanged
        self.rejected += page.rejected
        self.unknown += page.unknown
        self.watermark = page.watermark


@dataclass(frozen=True)
class ErpImportInput:
    """One entity's import; ``totals`` is set only by the workflow itself when it continues as new."""

    entity: str
    #: From the very start (a backfill) instead of the watermark the owning service committed.
    full: bool = False
    page_size: int = DEFAULT_PAGE_SIZE
    #: Pages per run; then the workflow continues as new with its totals (the history stays short).
    pages_per_run: int = DEFAULT_PAGES_PER_RUN
    totals: ImportProgress | None = None


# -- ErpSync ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErpSyncInput:
    full: bool = False
    page_size: int = DEFAULT_PAGE_SIZE
    pages_per_run: int = DEFAULT_PAGES_PER_RUN


@dataclass
class ErpSyncProgress:
    """ErpSync's ``progress`` query: the entity importing now (its child answers the rows), and those done."""

    full: bool
    started_at: str
    current: str | None = None
    done: list[ImportProgress] = field(default_factory=list)


@dataclass(frozen=True)
class ErpSyncResult:
    full: bool
    started_at: str
    seconds: float
    entities: list[ImportProgress]


# Pages retry from the same watermark until the ERP and the services are back: 1 s doubling to 60 s, no limit.
PAGE_TIMEOUT = timedelta(seconds=60)
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[
        UNKNOWN_ENTITY,
        INVALID_ERP_DATA,
        "UnsupportedFilter",
        "ValidationError",
        "IdempotencyKeyReused",
    ],
)
#: How long ErpSync waits before trying again to start an entity's import that another run holds.
BUSY_RETRY_INTERVAL = timedelta(seconds=10)
