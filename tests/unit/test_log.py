"""Logging setup shared by the CLI, the trainer and the server: levels, text or JSON lines,
a file, the environment, and the global CLI flags."""

from __future__ import annotations

import json
import logging
import os

import pytest

from tunesmith.cli.main import main
from tunesmith.errors import ConfigError
from tunesmith.log import (
    ENV_FILE,
    ENV_JSON,
    ENV_LEVEL,
    LogSettings,
    cli_settings,
    is_configured,
    logging_session,
    setup_logging,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch) -> None:
    for name in (ENV_LEVEL, ENV_JSON, ENV_FILE, "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)


def emit(logger: str, level: int, message: str, *args: object, **fields: object) -> None:
    logging.getLogger(logger).log(level, message, *args, extra=fields)


def test_text_lines_with_fields_at_the_configured_level(capsys):
    with logging_session(LogSettings(level="warning")):
        emit("tunesmith.x", logging.INFO, "hidden")
        emit("tunesmith.x", logging.WARNING, "shown %s", "here", n=3, note="two words", empty="")
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.endswith(' WARNING tunesmith.x: shown here n=3 note="two words" empty=""')
    with logging_session(LogSettings(level="debug")):
        emit("tunesmith.x", logging.DEBUG, "debug on")
        emit("some.library", logging.INFO, "library info")  # others stay at WARNING
    assert capsys.readouterr().err.splitlines()[0].endswith("DEBUG tunesmith.x: debug on")


def test_json_lines_to_stderr_and_file_with_rank(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    log_file = tmp_path / "a.log"
    log_file.write_text('{"earlier": true}\n')
    with logging_session(LogSettings(level="info", json=True, file=str(log_file))):
        emit("tunesmith.train", logging.INFO, "step %d", 4, step=4, loss=0.5)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("tunesmith.serve").exception("failed")
    lines = log_file.read_text().splitlines()
    assert json.loads(lines[0]) == {"earlier": True}  # appended, not replaced
    step, failed = (json.loads(x) for x in lines[1:])
    assert set(step) == {"time", "level", "logger", "message", "rank", "step", "loss"}
    assert (step["message"], step["level"], step["rank"], step["step"]) == ("step 4", "info", 1, 4)
    assert step["time"].endswith("Z") and step["time"][10] == "T"
    assert failed["level"] == "error" and "ValueError: boom" in failed["exc"]
    assert [json.loads(x) for x in capsys.readouterr().err.splitlines()] == [step, failed]


def test_text_lines_carry_the_rank_under_a_distributed_launch(capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    with logging_session(LogSettings()):
        emit("tunesmith.train", logging.INFO, "ready")
    assert capsys.readouterr().err.startswith("[rank 3] ")


def test_a_session_restores_the_previous_setup():
    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogger("tunesmith").level)
    with logging_session(LogSettings(level="debug")):
        assert is_configured() and logging.getLogger("tunesmith").level == logging.DEBUG
    assert (list(root.handlers), root.level, logging.getLogger("tunesmith").level) == before
    assert not is_configured()


def test_setup_twice_replaces_its_handlers():
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging(LogSettings())
        setup_logging(LogSettings(json=True))
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)


def test_settings_from_the_environment(monkeypatch):
    assert LogSettings.from_env() == LogSettings(level="info", json=False, file=None)
    monkeypatch.setenv(ENV_LEVEL, "DEBUG")
    monkeypatch.setenv(ENV_JSON, "true")
    monkeypatch.setenv(ENV_FILE, "/tmp/x.log")
    assert LogSettings.from_env() == LogSettings(level="debug", json=True, file="/tmp/x.log")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {ENV_LEVEL: "loud"},
            "TUNESMITH_LOG_LEVEL='loud' is not one of debug, info, warning, error",
        ),
        ({ENV_JSON: "maybe"}, "TUNESMITH_LOG_JSON='maybe': expected 1 or 0 (true / false)"),
    ],
)
def test_bad_environment_values(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as e:
        LogSettings.from_env()
    assert str(e.value) == message


def test_bad_level_and_unwritable_file(tmp_path):
    with pytest.raises(
        ConfigError, match="^log level 'loud' is not one of debug, info, warning, error$"
    ):
        LogSettings(level="loud")
    missing = tmp_path / "no" / "dir" / "x.log"
    with pytest.raises(ConfigError) as e:
        setup_logging(LogSettings(file=str(missing)))
    assert str(e.value) == f"log file '{missing}': No such file or directory"
    assert not is_configured()


def test_cli_flags_override_the_environment_and_are_exported(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_LEVEL, "warning")
    monkeypatch.chdir(tmp_path)
    settings = cli_settings("debug", True, "run.log")
    assert settings == LogSettings(level="debug", json=True, file=str(tmp_path / "run.log"))
    assert (os.environ[ENV_LEVEL], os.environ[ENV_JSON], os.environ[ENV_FILE]) == (
        "debug",
        "1",
        str(tmp_path / "run.log"),
    )
    monkeypatch.setenv(ENV_LEVEL, "error")
    assert cli_settings(None, False, None).level == "error"  # no flags: nothing exported


@pytest.mark.parametrize(
    ("argv", "err"),
    [
        (["--log-level", "loud", "models"], "argument --log-level: invalid choice: 'loud'"),
        (["--log-file"], "argument --log-file: expected one argument"),
    ],
)
def test_cli_usage_errors(capsys, argv, err):
    assert main(argv) == 2
    assert err in capsys.readouterr().err


def test_cli_bad_log_file_and_bad_env_exit_2(capsys, tmp_path, monkeypatch):
    missing = tmp_path / "no" / "x.log"
    assert main(["--log-file", str(missing), "models"]) == 2
    assert capsys.readouterr() == ("", f"error: log file '{missing}': No such file or directory\n")
    monkeypatch.delenv(ENV_FILE)  # exported by the flag above
    monkeypatch.setenv(ENV_JSON, "2")
    assert main(["models"]) == 2
    assert (
        capsys.readouterr().err == "error: TUNESMITH_LOG_JSON='2': expected 1 or 0 (true / false)\n"
    )


def test_cli_logs_through_the_setup_and_leaves_it_after(capsys, tmp_path, monkeypatch):
    log_file = tmp_path / "cli.log"
    code = main(["--log-json", "--log-file", str(log_file), "deploy", "k8s", "--model-uri",
                 "pvc://m", "--output", str(tmp_path / "k8s")])  # fmt: skip
    assert code == 0 and not is_configured()
    assert log_file.read_text() == ""  # nothing logged at info by deploy; the file was opened
    assert os.environ[ENV_JSON] == "1"
