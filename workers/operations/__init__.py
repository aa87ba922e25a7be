"""The service's long operations as plain functions: what the CLI (and later the REST API) calls.

Each takes the database, the settings, a typed request (a frozen pydantic model: the same fields
as the CLI command's options, so a route can take it as its body) and an optional progress
callback ``progress(done, total, phase)``, and returns what it stored:

| operation | request | returns |
|---|---|---|
| `train_supernet` | `SupernetTrainRequest` | `SupernetTrained` (artifact id, name, info) |
| `measure_latency_table` | `LutMeasureRequest` | `LatencyTableStored` |
| `import_latency_table` | `LutImportRequest` | `LatencyTableStored` |
| `import_table` | `TableImportRequest` | `TableStored` (artifact id, columns) |
| `fit_predictor` | `PredictorFitRequest` | `PredictorStored` (artifact id, CV scores) |
| `run_dass_search` | `DassSearchRequest` | `DassSearchResult` (architecture, folder, artifact id) |

Expected failures raise `core.errors.NasError` subclasses; a request's field constraints raise
pydantic's ``ValidationError`` when it is built. Ray is imported only by the operations that need
it (supernet training, latency measurement), when they run.
"""

from __future__ import annotations

from workers.operations.common import Progress, task_shape
from workers.operations.dass import DassSearchRequest, DassSearchResult, run_dass_search
from workers.operations.latency import (
    LatencyTableStored,
    LutImportRequest,
    LutMeasureRequest,
    import_latency_table,
    measure_latency_table,
)
from workers.operations.predictors import (
    PredictorFitRequest,
    PredictorStored,
    TableColumn,
    TableImportRequest,
    TableStored,
    fit_predictor,
    import_table,
)
from workers.operations.supernet import SupernetTrained, SupernetTrainRequest, train_supernet

__all__ = [
    "DassSearchRequest",
    "DassSearchResult",
    "LatencyTableStored",
    "LutImportRequest",
    "LutMeasureRequest",
    "PredictorFitRequest",
    "PredictorStored",
    "Progress",
    "SupernetTrainRequest",
    "SupernetTrained",
    "TableColumn",
    "TableImportRequest",
    "TableStored",
    "fit_predictor",
    "import_latency_table",
    "import_table",
    "measure_latency_table",
    "run_dass_search",
    "task_shape",
    "train_supernet",
]
