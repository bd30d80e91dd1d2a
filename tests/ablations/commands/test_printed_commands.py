"""The commands the launcher prints are pasted into a shell: they must parse back to the
same study and store, whatever characters the names hold."""

from __future__ import annotations

import shlex

from ablations.cli import main
from tests.conftest import paper_tables


def test_the_printed_report_command_survives_spaces(tmp_path, capsys, data_root):
    run_dir = tmp_path / "my runs"
    argv = ["--preset", "tiny", "--study", "my study", "--run-dir", str(run_dir), "--data-root", str(data_root),
            "--tracking-uri", f"sqlite:///{tmp_path / 'my runs' / 'mlflow.db'}", "--no-progress",
            *paper_tables(tmp_path, 13), "--set", "train.epochs=0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = next(line for line in out.splitlines() if "Report:" in line).split("Report:", 1)[1]
    words = shlex.split(report)
    assert words[words.index("--study") + 1] == "my study"
    assert words[words.index("--tracking-uri") + 1] == f"sqlite:///{tmp_path / 'my runs' / 'mlflow.db'}"
    ui = next(line for line in out.splitlines() if "MLflow:" in line).split("MLflow:", 1)[1].split(", then")[0]
    assert shlex.split(ui)[-1] == f"sqlite:///{tmp_path / 'my runs' / 'mlflow.db'}"
