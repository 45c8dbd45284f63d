"""Run the command line as a user does, and check the one-line error contract."""

import subprocess
import sys

__all__ = ["secateurs", "assert_one_line_error"]


def secateurs(*args, cwd=None) -> subprocess.CompletedProcess:
    """``secateurs ARGS`` in a fresh interpreter, its output captured (ten minutes at most: a
    ``sim matmul`` builds two designs)."""
    return subprocess.run([sys.executable, "-m", "secateurs.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600, check=False)


def assert_one_line_error(result, *fragments) -> None:
    """Exit 2, exactly one line on stderr holding every fragment, and no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
