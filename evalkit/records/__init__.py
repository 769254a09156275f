"""Run records: the schema (`schema`), the files of a run directory, written by one writer and read back (`files`),
and the summaries a record holds (`summaries`). Import from here; the submodules are the layout, not the API."""

from evalkit.records.files import (
    RunWriter,
    atomic_write_text,
    find_runs,
    load_run,
    make_run_dir,
    read_json_object,
    read_predictions,
    read_record,
    write_skipped_run,
)
from evalkit.records.schema import (
    PHASES,
    RUN_FILE,
    SAMPLES_FILE,
    SCHEMA_VERSION,
    STATUSES,
    Prediction,
    RecordWarning,
    RunRecord,
    dumps,
    json_safe,
    utc_now,
)
from evalkit.records.summaries import summarize, summarize_performance

__all__ = [
    "PHASES",
    "RUN_FILE",
    "SAMPLES_FILE",
    "SCHEMA_VERSION",
    "STATUSES",
    "Prediction",
    "RecordWarning",
    "RunRecord",
    "RunWriter",
    "atomic_write_text",
    "dumps",
    "find_runs",
    "json_safe",
    "load_run",
    "make_run_dir",
    "read_json_object",
    "read_predictions",
    "read_record",
    "summarize",
    "summarize_performance",
    "utc_now",
    "write_skipped_run",
]
