"""`reportgen send`: delivery to a real SMTP server (aiosmtpd on 127.0.0.1), errors, dry run."""

from __future__ import annotations

import io
import json
import logging
import shutil
import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from monthly_helpers import fast_config, invoke, run_cli, skip_tsne

PASSWORD = "s3cret-Pa55word!"
SENDER = "reports@example.com"


def _pdf(pages: int = 1) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(72, 72)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, small_file):
    """November run folder (compared with October) plus a small report.pdf and persona PDFs."""
    monkeypatch = pytest.MonkeyPatch()
    skip_tsne(monkeypatch)
    tmp = tmp_path_factory.mktemp("send")
    config = fast_config(tmp, "k = 3\n")
    out = tmp / "output"
    for period in ("2026-10", "2026-11"):
        assert run_cli(small_file, out / period, period, config).exit_code == 0
    monkeypatch.undo()
    run = out / "2026-11"
    (run / "report.pdf").write_bytes(_pdf(3))
    (run / "personas").mkdir()
    for name, pages in (("first-persona", 1), ("second-persona", 2)):
        (run / "personas" / f"{name}.pdf").write_bytes(_pdf(pages))
    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _login_checker(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"ops"
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def server():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def auth_server():
    inbox = _Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_login_checker,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _send(run, port, *extra, env=None):
    args = ["--quiet", "send", "--run", run, "--smtp-host", "127.0.0.1", "--smtp-port", port]
    args += ["--from", SENDER, *extra]
    return invoke(args, env={"REPORTGEN_SMTP_PASSWORD": None, **(env or {})})


def _one_line_error(result, code):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reportgen: error: "), result.stderr
    return lines[0]


def test_the_report_arrives_with_both_bodies_and_the_pdf(run_dir, server):
    inbox, port = server
    result = _send(
        run_dir,
        port,
        *["--to", "anna@example.com", "--to", "Ben <ben@example.com>", "--cc", "boss@example.com"],
        *["--subject", "Segments {period}: {k} groups ({title})"],
    )
    assert result.exit_code == 0, result.output
    assert f"via 127.0.0.1:{port}" in result.stdout
    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["anna@example.com", "ben@example.com", "boss@example.com"]
    msg = message_from_bytes(envelope.content, policy=policy.default)
    assert msg["Subject"] == "Segments 2026-11: 3 groups (Customer segment report)"
    assert msg["To"] == "anna@example.com, Ben <ben@example.com>"
    assert msg["Cc"] == "boss@example.com"

    summary = json.loads((run_dir / "summary.json").read_text())
    text = msg.get_body(("plain",)).get_content()
    body_html = msg.get_body(("html",)).get_content()
    for seg in summary["segments"]:
        name = seg["persona"]["name"] if seg["persona"] else f"Segment {seg['id']}"
        share, spend = round(100 * seg["share"]), round(100 * seg["kpis"]["revenue_share"])
        # the report's figures, in the report's format
        assert f"{name}: {seg['size']:,} customers ({share}%), {spend}% of spend" in text
        assert f"<td style='text-align:right'>{seg['size']:,}</td>" in body_html
    assert "Changes since 2026-10:" in text and "Changes since 2026-10</h3>" in body_html
    for sentence in summary["changes"]["highlights"]:
        assert sentence in text
    assert "Attached: report.pdf." in text

    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["report.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == (run_dir / "report.pdf").read_bytes()


def test_personas_are_attached_too(run_dir, server):
    inbox, port = server
    result = _send(run_dir, port, "--to", "anna@example.com", "--personas")
    assert result.exit_code == 0, result.output
    msg = message_from_bytes(inbox.envelopes[0].content, policy=policy.default)
    files = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
    assert list(files) == ["report.pdf", "first-persona.pdf", "second-persona.pdf"]
    for name in ("first-persona", "second-persona"):
        assert files[f"{name}.pdf"] == (run_dir / "personas" / f"{name}.pdf").read_bytes()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_the_password_from_the_environment_or_a_file(
    run_dir, auth_server, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    inbox, port = auth_server
    result = _send(
        run_dir,
        port,
        *["--to", "anna@example.com", "--smtp-user", "ops"],
        env={"REPORTGEN_SMTP_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n")
    config = tmp_path / "smtp.toml"
    config.write_text(f'[smtp]\nuser = "ops"\npassword_file = "{secret}"\n')
    result = _send(run_dir, port, "--config", config, "--to", "anna@example.com")
    assert result.exit_code == 0, result.output
    assert len(inbox.envelopes) == 2
    assert PASSWORD not in result.output
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert not any(PASSWORD in m for m in ours)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_refused_login_is_one_clear_line_without_the_password(run_dir, auth_server, caplog):
    caplog.set_level(logging.DEBUG)
    inbox, port = auth_server
    wrong = PASSWORD + "-typo"
    result = _send(
        run_dir,
        port,
        *["--to", "anna@example.com", "--smtp-user", "ops"],
        env={"REPORTGEN_SMTP_PASSWORD": wrong},
    )
    line = _one_line_error(result, 1)
    assert f"127.0.0.1:{port} refused the login of user 'ops' (535" in line
    assert "REPORTGEN_SMTP_PASSWORD" in line
    assert wrong not in result.output and PASSWORD not in result.output
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert not any(wrong in m for m in ours)
    assert inbox.envelopes == []


def test_connection_refused_names_host_port_and_the_fix(run_dir):
    port = _free_port()  # nothing listens there any more
    result = _send(run_dir, port, "--to", "anna@example.com")
    line = _one_line_error(result, 1)
    assert f"cannot connect to the SMTP server 127.0.0.1:{port} (connection refused)" in line
    assert "--smtp-host / --smtp-port" in line


def test_tls_against_a_plain_server_is_a_clear_error(run_dir, server):
    _, port = server
    result = _send(run_dir, port, "--to", "anna@example.com", "--starttls")
    line = _one_line_error(result, 1)
    assert f"127.0.0.1:{port}" in line and "STARTTLS" in line
    result = _send(run_dir, port, "--to", "anna@example.com", "--ssl")
    line = _one_line_error(result, 1)
    assert f"TLS with 127.0.0.1:{port} failed" in line and "465 is SSL" in line


def test_usage_errors_exit_2(run_dir, server, tmp_path):
    _, port = server
    to = ["--to", "anna@example.com"]
    cases = [
        (_send(run_dir, port, *to, "--subject", "Report {month}"), "unknown field {month}"),
        (_send(run_dir, port, *to, "--subject", "Report {"), "--subject"),
        (_send(run_dir, port, "--to", "not-an-address"), "'not-an-address': not an e-mail"),
        (_send(run_dir, port, *to, "--smtp-user", "ops"), "there is no password"),
        (_send(tmp_path / "nope", port, *to), "no such run folder"),
        (_send(tmp_path, port, *to), "no summary.json"),
        (invoke(["send", "--run", run_dir, *to, "--starttls", "--ssl"]), "exclude each other"),
    ]
    bare = tmp_path / "bare"
    shutil.copytree(run_dir, bare)
    (bare / "report.pdf").unlink()
    cases.append((_send(bare, port, *to), "has no report.pdf"))
    shutil.rmtree(bare / "personas")
    (bare / "report.pdf").write_bytes(_pdf())
    cases.append((_send(bare, port, *to, "--personas"), "no persona PDFs"))
    for result, message in cases:
        assert message in _one_line_error(result, 2)


def test_dry_run_writes_the_eml_instead(run_dir, tmp_path):
    eml = tmp_path / "out" / "november.eml"
    port = _free_port()  # no server: a dry run must not connect
    result = _send(run_dir, port, "--to", "anna@example.com", "--dry-run", "--eml", eml)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(eml)
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "anna@example.com" and msg["From"] == SENDER
    assert msg["Subject"] == "Customer segment report — 2026-11"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    (report,) = list(msg.iter_attachments())
    assert report.get_content() == (run_dir / "report.pdf").read_bytes()


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--to", "anna@example.com\nBcc: evil@example.net", "a line break or control character"),
        ("--to", "anna@example.com\r\nBcc: evil@example.net", "a line break or control character"),
        ("--cc", "Doe, John <john@example.net>", "not one e-mail address"),
        ("--to", "anna@example.com, evil@example.net", "not one e-mail address"),
        ("--from", "ops@example.com\r\nFrom: ceo@example.com", "a line break or control"),
        ("--to", "anna at example.com", "not"),
    ],
)
def test_no_option_can_add_a_recipient_or_a_header(run_dir, server, option, value, message):
    inbox, port = server
    extra = ["--to", "anna@example.com"] if option != "--to" else []
    result = _send(run_dir, port, *extra, option, value)
    assert message in _one_line_error(result, 2)
    assert inbox.envelopes == []


def test_a_quoted_display_name_with_a_comma_is_one_recipient(run_dir, server):
    inbox, port = server
    result = _send(run_dir, port, "--to", '"Doe, John" <john@example.net>')
    assert result.exit_code == 0, result.output
    assert inbox.envelopes[0].rcpt_tos == ["john@example.net"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_password_the_server_cannot_take_is_one_line(run_dir, auth_server):
    inbox, port = auth_server
    result = _send(
        run_dir,
        port,
        *["--to", "anna@example.com", "--smtp-user", "ops"],
        env={"REPORTGEN_SMTP_PASSWORD": "pässwörd"},
    )
    line = _one_line_error(result, 1)
    assert "only ASCII" in line and "pässwörd" not in line
    assert inbox.envelopes == []


def test_without_a_sender_nothing_is_sent_and_the_fix_is_named(run_dir, tmp_path):
    args = ["--quiet", "send", "--run", run_dir, "--to", "anna@example.com", "--dry-run"]
    result = invoke([*args, "--eml", tmp_path / "m.eml"], env={"REPORTGEN_SMTP_PASSWORD": None})
    line = _one_line_error(result, 2)
    assert "no sender address" in line and "smtp.sender" in line and "--from" in line
    assert not (tmp_path / "m.eml").exists()


def test_the_email_is_a_briefing(run_dir):
    from reportgen.ops.deliver import build_message
    from reportgen.result import Summary

    msg = build_message(run_dir, ["anna@example.com"], sender=SENDER)
    summary = Summary.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    text = msg.get_body(("plain",)).get_content()
    body_html = msg.get_body(("html",)).get_content()
    headline = (summary.insights or [summary.concentration])[0]
    assert headline and headline in text
    assert "This month's primary actions:" in text
    first = min(
        (r for s in summary.segments for r in s.recommendations if r.rank), key=lambda r: r.rank
    )
    assert f"1. {first.action}" in text
    # value beside headcount: each segment's change names its share of spend or says none
    for seg in summary.segments:
        line = next(x for x in text.splitlines() if x.startswith(f"  - {seg.persona.name}:"))
        assert "customers" in line and "of spend" in line
        assert "since 2026-10:" in body_html
    assert "Attached: report.pdf." in text
    assert '<th align="left">Since' not in body_html  # no column that can be empty
