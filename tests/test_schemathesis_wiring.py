"""CI's schemathesis phase is wired: .ci/run calls the script, the script is valid bash,
and it asks the installed schemathesis only for options and checks that it knows (the
CLI changes between major versions; this fails here rather than in the CI phase)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "schemathesis.sh"


def schemathesis_command() -> str:
    text = SCRIPT.read_text()
    start = text.index('"$BIN/schemathesis" run')
    return text[start:text.index("|| status", start)]


def test_ci_runs_the_schemathesis_script():
    assert "bash .ci/schemathesis.sh" in (ROOT / ".ci" / "run").read_text()
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    subprocess.run([bash, "-n", str(SCRIPT)], check=True)  # noqa: S603


def test_the_script_uses_only_options_and_checks_schemathesis_knows():
    exe = Path(sys.executable).parent / "schemathesis"
    if not exe.exists():
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    shown = subprocess.run([exe, "run", "--help"], capture_output=True, text=True,  # noqa: S603
                           check=True).stdout
    words = set(re.findall(r"--?[\w-]+|\w+", shown))
    command = schemathesis_command()
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", command))
    checks = re.search(r"--checks\s+(\S+)", command).group(1).split(",")
    assert options, "no option found in the schemathesis command"
    assert sorted(options - words) == []
    assert sorted(set(checks) - words) == []
    assert {"not_a_server_error", "response_schema_conformance"} <= set(checks)
