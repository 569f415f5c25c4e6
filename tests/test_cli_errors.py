"""The CLI's last line of defence: unexpected errors end in one line, tracebacks only with --debug."""

from __future__ import annotations

import pytest

from painterly.cli import main as cli_main


def fail_inside(monkeypatch, error: BaseException) -> None:
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli_main.cli, "main", broken)


def test_an_unexpected_error_is_one_line_and_exit_code_1(monkeypatch, capsys):
    fail_inside(monkeypatch, RuntimeError("expected scalar type BFloat16\nbut found Float"))
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["stylize", "photo.jpg", "--model", "starry-night"])
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["error: RuntimeError: expected scalar type BFloat16 but found Float (run with --debug for the traceback)"]


def test_debug_anywhere_on_the_line_shows_the_traceback(monkeypatch):
    calls = []
    fail_inside(monkeypatch, RuntimeError("boom"))
    original = cli_main.cli.main

    def record(*args, **kwargs):
        calls.append(kwargs["args"])
        return original(*args, **kwargs)

    monkeypatch.setattr(cli_main.cli, "main", record)
    with pytest.raises(RuntimeError, match="boom"):
        cli_main.main(["stylize", "photo.jpg", "--debug"])
    assert calls == [["stylize", "photo.jpg"]]  # the flag is not passed on to the command


def test_out_of_memory_says_what_to_change(monkeypatch, capsys):
    fail_inside(monkeypatch, MemoryError())
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["stylize", "photo.jpg"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "error: out of memory: use a smaller --size or --work-scale, or close other programs"
    )


def test_bad_input_is_still_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main.main(["stylize", str(tmp_path / "missing.jpg"), "--model", "starry-night", "-o", str(tmp_path / "o.png")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
