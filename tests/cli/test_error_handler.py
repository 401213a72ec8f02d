"""Expected errors become one line and the contract's exit code; Ctrl-C becomes 130."""

from __future__ import annotations

import pytest

from seedance_batch.cli._errors import handle_errors
from seedance_batch.errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    CreditsExhaustedError,
    Diagnostic,
    LockfileError,
    LockHeldError,
    ManifestError,
    NetworkError,
    SeedanceBatchError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ManifestError([Diagnostic("m.yaml", 3, 5, "jobs[0].n", "bad")]), 2),
        (ConfigurationError("SEEDANCE_API_KEY is not set"), 2),
        (LockfileError("m.lock.json: not JSON"), 2),
        (LockHeldError("m.lock.json", "pid 7 on host"), 4),
        (BudgetExceededError(10, 5), 3),
        (AuthenticationError("bad key", status=401), 3),
        (CreditsExhaustedError("no credits", status=402), 3),
        (NetworkError("refused"), 1),
        (KeyboardInterrupt(), 130),
    ],
)
def test_errors_map_to_exit_codes_with_one_line(
    error: BaseException, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each expected error prints one line on stderr and exits with the contract's code."""
    with handle_errors() as outcome:
        raise error
    assert outcome.code == code
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
    if isinstance(error, SeedanceBatchError) and not isinstance(error, ManifestError):
        assert err.startswith("seedance-batch: error: ")
