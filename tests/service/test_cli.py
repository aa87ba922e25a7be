"""The ``nas`` command line: spaces, sample, reference, describe, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from search_spaces import SPACES, Architecture

KNOWN_SPACES = ", ".join(SPACES.names())

NAS = [sys.executable, "-c", "from service.cli import main; main()"]


def nas(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NAS, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_describe_a1_prints_the_exact_parameter_count() -> None:
    ref = nas("reference", "mnasnet", "mnasnet-a1")
    assert ref.returncode == 0, ref.stderr
    out = nas("describe", "-", stdin=ref.stdout)
    assert out.returncode == 0, out.stderr
    assert "parameters: 3,887,038" in out.stdout
    assert "MACs: 311,579,072 (311.6M)" in out.stdout
    assert out.stdout.count("mbconv") == 15  # 15 MBConv layers + SepConv + stem + head + classifier


def test_sample_prints_valid_json_lines_deterministically() -> None:
    first = nas("sample", "mnasnet", "--n", "5", "--seed", "3")
    second = nas("sample", "mnasnet", "--n", "5", "--seed", "3")
    assert first.returncode == 0 and first.stdout == second.stdout
    archs = [Architecture.from_json(line) for line in first.stdout.splitlines()]
    assert len(archs) == 5 and len({a.arch_id for a in archs}) == 5
    described = nas("describe", "-", "--json", "--input-size", "32", "--num-classes", "10", stdin=first.stdout)
    rows = [json.loads(line) for line in described.stdout.splitlines()]
    assert [r["arch_id"] for r in rows] == [a.arch_id for a in archs]
    assert all(r["params"] > 0 and r["input"] == [3, 32, 32] for r in rows)


def test_spaces_and_reference_listing() -> None:
    spaces = nas("spaces")
    assert spaces.returncode == 0 and "mnasnet" in spaces.stdout and "1.381e+18" in spaces.stdout
    refs = nas("reference", "mnasnet")
    assert "mnasnet-a1    3,887,038  311.6M" in refs.stdout
    assert "mnasnet-b1    4,383,312  314.4M" in refs.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("sample", "nope"), None, "error: unknown search space 'nope'; known: " + KNOWN_SPACES),
        (("reference", "mnasnet", "x"), None, "error: mnasnet has no reference architecture 'x'"),
        (("describe", "-"), "{oops", "error: malformed JSON"),
        (("describe", "-"), "", "error: no architecture given"),
        (("describe", "/no/such/file.json"), None, "error: No such file or directory: /no/such/file.json"),
        (
            ("describe", "-"),
            '{"space":"mnasnet","version":"1","genome":["a","b","c","d","e","f","g"]}',
            "error: genome[0] (block 1): block 'a': missing layers",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(args: tuple[str, ...], stdin: str | None, message: str) -> None:
    out = nas(*args, stdin=stdin)
    assert out.returncode == 2
    assert out.stderr.startswith(message), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_describe_reads_files(tmp_path: Path) -> None:
    ref = nas("reference", "mnasnet", "mnasnet-b1").stdout
    path = tmp_path / "b1.json"
    path.write_text(ref)
    out = nas("describe", str(path))
    assert "parameters: 4,383,312" in out.stdout
