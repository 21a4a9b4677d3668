"""Entry point: ``python -m trainer.task [flags]`` — as Vertex AI runs a python package.

Exit status: 0 done, 1 the run failed (bad data, unreachable storage, ...), 2 bad flags.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from trainer.flags import parse_args
from trainer.logline import emit, emit_error


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up chatter would drown the progress lines in the job's log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)  # exits with status 2 on bad flags, before TensorFlow loads
    _quiet_tensorflow()
    from trainer.data import DataError
    from trainer.storage_io import StorageError

    try:
        if cfg.export_data:
            from trainer.data import export_synthetic

            counts = export_synthetic(cfg)
            emit(
                "trainer export",
                status="ok",
                to=cfg.export_data,
                format=cfg.export_format,
                **counts,
            )
            return 0
        from trainer.train import run

        run(cfg)
        return 0
    except (DataError, StorageError, ValueError) as exc:
        emit_error(str(exc))
        return 1
    except Exception as exc:
        # A bug or an unexpected failure: keep the traceback, but still end the progress log.
        emit("trainer end", status="failed", error=type(exc).__name__)
        raise


if __name__ == "__main__":
    sys.exit(main())
