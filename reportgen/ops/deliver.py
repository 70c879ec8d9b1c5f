"""E-mail a finished run: report.pdf (and persona PDFs) with a short HTML + plain-text body.

Reads only the run folder (summary.json and the PDFs); builds the message with the standard
library's `email.message.EmailMessage` and sends it with `smtplib`. The SMTP password comes
only from the environment variable `REPORTGEN_SMTP_PASSWORD` or from `smtp.password_file` —
never from a flag — and never appears in a message this module produces.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Literal

from .. import __version__, wording
from ..config import SmtpConfig
from ..errors import DeliveryError, InputError
from ..result import Summary

PASSWORD_ENV = "REPORTGEN_SMTP_PASSWORD"
DEFAULT_SUBJECT = "{title} — {period}"
SUBJECT_FIELDS = ("period", "k", "title")
#: where the renderer puts persona PDFs in a run folder (personas/<slug>.pdf)
PERSONA_PATTERNS = ("personas/*.pdf",)

Security = Literal["none", "starttls", "ssl"]


@dataclass
class SmtpSettings:
    host: str
    port: int
    security: Security
    user: str | None
    sender: str | None
    timeout: float

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class Delivery:
    """What `send_run` did."""

    to: list[str]
    cc: list[str]
    subject: str
    attachments: list[str]
    #: the .eml written instead of sending (dry run), else None
    eml: Path | None = None
    server: str | None = None
    refused: dict[str, str] = field(default_factory=dict)


def smtp_settings(
    config: SmtpConfig,
    host: str | None = None,
    port: int | None = None,
    starttls: bool | None = None,
    use_ssl: bool | None = None,
    user: str | None = None,
    sender: str | None = None,
) -> SmtpSettings:
    """Merge flags (when given) over the [smtp] config; the default port follows the mode."""
    tls = starttls if starttls is not None else config.starttls
    secure = use_ssl if use_ssl is not None else config.ssl
    if starttls and use_ssl:
        raise InputError("--starttls and --ssl exclude each other — choose one")
    if starttls:
        secure = False
    if use_ssl:
        tls = False
    security: Security = "ssl" if secure else "starttls" if tls else "none"
    default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
    return SmtpSettings(
        host=host or config.host,
        port=port or config.port or default_port,
        security=security,
        user=(user if user is not None else config.user) or None,
        sender=sender or config.sender,
        timeout=config.timeout,
    )


def read_password(config: SmtpConfig, environ: dict[str, str] | None = None) -> str | None:
    """The SMTP password from REPORTGEN_SMTP_PASSWORD, else from smtp.password_file."""
    env = os.environ if environ is None else environ
    if env.get(PASSWORD_ENV):
        return env[PASSWORD_ENV]
    if config.password_file:
        path = Path(config.password_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"smtp.password_file {path}: cannot read it ({exc.strerror}) — fix the path or "
                f"set {PASSWORD_ENV}"
            ) from None
        return text.rstrip("\r\n")
    return None


# --------------------------------------------------------------------------- the message


def _addresses(values: list[str], flag: str) -> list[str]:
    """One address per value, checked by the standard library and written back by it, so no
    option can add a header or a recipient: a line break or control character is refused,
    an unquoted comma in a display name is two addresses and refused, and the display name
    is quoted as RFC 5322 needs."""
    out = []
    for raw in values:
        fix = 'write one address per option, as name@host or "Name" <name@host>'
        if any(ord(c) < 32 or ord(c) == 127 for c in raw):
            raise InputError(f"{flag} {raw!r}: a line break or control character — {fix}")
        found = getaddresses([raw])
        if len(found) != 1 or not found[0][1]:
            raise InputError(f"{flag} {raw!r}: not one e-mail address — {fix}")
        name, addr = found[0]
        local, _, domain = addr.rpartition("@")
        try:
            address = Address(display_name=name, username=local, domain=domain)
        except (ValueError, IndexError, HeaderParseError):
            address = None
        if address is None or not local or not domain or any(c.isspace() for c in addr):
            raise InputError(f"{flag} {raw!r}: not an e-mail address — {fix}")
        out.append(str(address))
    return out


def _summary(run: Path) -> Summary:
    if not run.is_dir():
        raise InputError(f"{run}: no such run folder — pass the folder `reportgen run` wrote")
    path = run / "summary.json"
    try:
        return Summary.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{run}: not a run folder (no summary.json) — pass the folder `reportgen run` wrote"
        ) from None
    except ValueError as exc:
        raise InputError(
            f"{path}: cannot be read ({exc.__class__.__name__}) — re-run `reportgen run`"
        ) from None


def subject_for(template: str | None, summary: Summary) -> str:
    """Fill the subject template; only {period}, {k} and {title} are known."""
    values = {
        "period": summary.run.period or "",
        "k": summary.model.k,
        "title": _title(summary),
    }
    try:
        subject = (template or DEFAULT_SUBJECT).format(**values)
    except KeyError as exc:
        raise InputError(
            f"--subject: unknown field {{{exc.args[0]}}} — use {{period}}, {{k}} or {{title}}"
        ) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise InputError(
            f"--subject: {exc} — write fields as {{period}}, {{k}} or {{title}} and double "
            "literal braces ({{ }})"
        ) from None
    if "\n" in subject or "\r" in subject:
        raise InputError("--subject: must be one line")
    return subject.strip()


def _title(summary: Summary) -> str:
    report = summary.run.config.get("report") or {}
    return str(report.get("title") or "Customer segment report")


def _name(seg) -> str:
    return seg.persona.name if seg.persona else f"Segment {seg.id}"


def _pp(change: float) -> str:
    return f"{change * 100:+.1f} pp"


def _segment_change(ch) -> str:
    """A segment's change since the previous run, in words: customers, spend share, response."""
    if ch is None or ch.status == "vanished":
        return ""
    if ch.status == "new":
        return "new segment"
    parts = [f"{ch.size_change:+,} customers"] if ch.size_change else []
    for key, label in (("revenue_share", "share of spend"), ("response_rate", "response")):
        metric = ch.kpis.get(key)
        if metric is not None and round(metric.change * 100, 1) != 0:
            quiet = " (within noise)" if metric.beyond_noise is False else ""
            parts.append(f"{label} {_pp(metric.change)}{quiet}")
    return ", ".join(parts) or "no change"


def _actions(summary: Summary, currency: str) -> list[dict[str, str]]:
    """The three most valuable campaigns of the action plan (by rank), else each segment's
    first recommendation."""
    ranked = sorted(
        ((r, s) for s in summary.segments for r in s.recommendations if r.rank),
        key=lambda t: t[0].rank,
    )
    if not ranked:
        ranked = [(s.recommendations[0], s) for s in summary.segments if s.recommendations]
    out = []
    for rec, seg in ranked[:3]:
        value = ""
        if rec.value is not None:
            unit = f"\u00a0{currency}" if currency else ""
            value = f"{wording.signed(rec.value.expected_value)}{unit}"
            low_high = rec.value.expected_value_interval
            if low_high:
                value += f" (95 % range {wording.signed(low_high[0])} to "
                value += f"{wording.signed(low_high[1])}{unit})"
        out.append({"action": rec.action, "segment": _name(seg), "value": value})
    return out


def _body(summary: Summary, attachments: list[str]) -> tuple[str, str]:
    """(plain text, HTML) bodies from templates/email.txt and email.html: the headline
    insight, segments with their value and change, this month's primary actions, the
    changes since last month and the attachments."""
    from ..report.brand import load_brand
    from ..report.templating import environment

    report = summary.run.config.get("report") or {}
    try:
        brand = load_brand(report.get("brand"))
    except InputError:  # the run's brand folder is gone: the default look
        brand = load_brand(None)
    changes = summary.changes
    by_id = {c.id: c for c in changes.segments} if changes is not None else {}
    rows = [
        {
            "name": _name(seg),
            "size": seg.size,
            "share": seg.share,
            "spend": seg.kpis.revenue_share if seg.kpis else None,
            "change": _segment_change(by_id.get(seg.id)),
        }
        for seg in sorted(summary.segments, key=lambda s: -s.size)
    ]
    customers = summary.data_quality.rows_in
    # with three or more periods on record the trend leads; else the first insight
    trend = summary.trends.headline if summary.trends is not None else ""
    headline = (
        trend
        or (summary.insights or [summary.concentration or ""])[0]
        or (f"{summary.model.k} segments of {customers:,} customers.")
    )
    context = {
        "title": _title(summary),
        "period": summary.run.period or "this run",
        "headline": headline,
        "k": summary.model.k,
        "customers": customers,
        "rows": rows,
        "actions": _actions(summary, str(report.get("currency") or "")),
        "changes": changes,
        "attachments": attachments,
        "version": __version__,
        "brand": brand.name,
        "primary": brand.primary,
        "accent": brand.accent,
        "primary_light": brand.primary_light,
        "font": brand.font_stack,
    }
    templates = report.get("templates")
    env = environment(templates if templates and Path(templates).is_dir() else None)
    text = env.get_template("email.txt").render(context).strip() + "\n"
    return text, env.get_template("email.html").render(context)


def persona_pdfs(run: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in PERSONA_PATTERNS:
        found += [p for p in sorted(run.glob(pattern)) if p not in found]
    return found


def build_message(
    run: Path,
    to: list[str],
    cc: list[str] | None = None,
    subject: str | None = None,
    personas: bool = False,
    sender: str | None = None,
) -> EmailMessage:
    """The e-mail for run folder `run` (reads summary.json, report.pdf, persona PDFs).

    The addresses are checked first: a bad option is reported before any file is read."""
    run = Path(run)
    to_list = _addresses(to, "--to")
    if not to_list:
        raise InputError("send: give at least one recipient with --to")
    cc_list = _addresses(cc or [], "--cc")
    if not sender:
        raise InputError(
            "send: no sender address — set smtp.sender in the config (or pass --from) to the "
            "mailbox the report should come from"
        )
    sender = _addresses([sender], "smtp.sender / --from")[0]
    summary = _summary(run)
    report = run / "report.pdf"
    if not report.is_file():
        raise InputError(
            f"{run}: has no report.pdf (was it run with --no-report?) — run "
            f"`reportgen render --from {run}` first"
        )
    files = [report]
    if personas:
        extra = persona_pdfs(run)
        if not extra:
            raise InputError(
                f"{run}: no persona PDFs found ({', '.join(PERSONA_PATTERNS)}) — render the run "
                "with persona documents or leave out --personas"
            )
        files += extra

    msg = EmailMessage()
    msg["Subject"] = subject_for(subject, summary)
    msg["From"] = sender
    msg["To"] = ", ".join(to_list)
    if cc_list:
        msg["Cc"] = ", ".join(cc_list)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">") or None)
    text, body_html = _body(summary, [f.name for f in files])
    msg.set_content(text)
    msg.add_alternative(body_html, subtype="html")
    for path in files:
        msg.add_attachment(
            path.read_bytes(), maintype="application", subtype="pdf", filename=path.name
        )
    return msg


# --------------------------------------------------------------------------- sending


def _scrub(text: str, secret: str | None) -> str:
    text = " ".join(str(text).split())
    return text.replace(secret, "***") if secret else text


def _server_text(exc: smtplib.SMTPResponseException) -> str:
    raw = exc.smtp_error
    reply = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return f"{exc.smtp_code} {reply}"


def _deliver(msg: EmailMessage, s: SmtpSettings, password: str | None) -> dict[str, str]:
    context = ssl.create_default_context()
    if s.security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
    else:
        server = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
    with server:
        server.ehlo()
        if s.security == "starttls":
            server.starttls(context=context)
            server.ehlo()
        if s.user:
            server.login(s.user, password or "")
        refused = server.send_message(msg)
    return {k: f"{v[0]} {v[1].decode('utf-8', 'replace')}" for k, v in refused.items()}


def send_message(msg: EmailMessage, settings: SmtpSettings, password: str | None) -> dict:
    """Send `msg`; turn every failure into a one-line DeliveryError naming host:port and the fix.

    Returns the recipients the server refused (when it accepted at least one).
    """
    where = settings.where
    fix_server = "check smtp.host / smtp.port (or --smtp-host / --smtp-port) and the server"
    try:
        return _deliver(msg, settings, password)
    except UnicodeEncodeError:
        message = (
            f"the SMTP password or user name has characters {where} cannot take (only ASCII "
            f"can be sent in a login) — check {PASSWORD_ENV} / smtp.password_file and smtp.user"
        )
    except smtplib.SMTPAuthenticationError as exc:
        message = (
            f"{where} refused the login of user {settings.user!r} ({_server_text(exc)}) — "
            f"check smtp.user / --smtp-user and the password in {PASSWORD_ENV} or "
            "smtp.password_file"
        )
    except smtplib.SMTPNotSupportedError as exc:
        message = (
            f"{where} does not support what was asked ({exc}) — use --starttls or --ssl if the "
            "server needs TLS for login, or leave out --smtp-user"
        )
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(exc.recipients)
        message = f"{where} refused every recipient ({refused}) — check the --to / --cc addresses"
    except smtplib.SMTPSenderRefused as exc:
        message = (
            f"{where} refused the sender {exc.sender} ({_server_text(exc)}) — set smtp.sender "
            "or --from to an address the server accepts"
        )
    except smtplib.SMTPResponseException as exc:
        message = f"{where} answered {_server_text(exc)} — {fix_server}"
    except smtplib.SMTPServerDisconnected as exc:
        message = f"{where} closed the connection ({exc or 'no reason given'}) — {fix_server}"
    except smtplib.SMTPException as exc:
        message = f"sending through {where} failed ({exc}) — {fix_server}"
    except ssl.SSLError as exc:
        message = (
            f"TLS with {where} failed ({exc.reason or exc}) — check --ssl / --starttls against "
            "the port the server uses (465 is SSL, 587 is STARTTLS)"
        )
    except ConnectionRefusedError:
        message = (
            f"cannot connect to the SMTP server {where} (connection refused) — {fix_server} "
            "is running"
        )
    except socket.gaierror:
        message = f"cannot find the SMTP server {settings.host!r} (unknown host) — {fix_server}"
    except TimeoutError:
        message = (
            f"no answer from the SMTP server {where} within {settings.timeout:g} s — {fix_server}"
        )
    except OSError as exc:
        message = f"cannot reach the SMTP server {where} ({exc.strerror or exc}) — {fix_server}"
    raise DeliveryError(_scrub(message, password))


def send_run(
    run: Path,
    to: list[str],
    cc: list[str] | None,
    settings: SmtpSettings,
    config: SmtpConfig,
    subject: str | None = None,
    personas: bool = False,
    dry_run: bool = False,
    eml: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Delivery:
    """E-mail run folder `run`, or with `dry_run` write the message to `eml` instead.

    `eml` defaults to `<run>/message.eml`.
    """
    run = Path(run)
    msg = build_message(run, to, cc, subject, personas, settings.sender)
    attachments = [p.get_filename() or "" for p in msg.iter_attachments()]
    delivery = Delivery(
        to=[a for _, a in getaddresses([msg["To"]])],
        cc=[a for _, a in getaddresses([msg["Cc"]])] if msg["Cc"] else [],
        subject=str(msg["Subject"]),
        attachments=attachments,
    )
    if dry_run:
        path = Path(eml) if eml is not None else run / "message.eml"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(msg.as_bytes())
        except OSError as exc:
            raise InputError(
                f"{path}: cannot write the .eml ({exc.strerror}) — choose --eml"
            ) from None
        delivery.eml = path
        return delivery
    password = read_password(config, environ) if settings.user else None
    if settings.user and not password:
        raise InputError(
            f"smtp user {settings.user!r} is set but there is no password — set {PASSWORD_ENV} "
            "or smtp.password_file (never a flag)"
        )
    delivery.server = settings.where
    delivery.refused = send_message(msg, settings, password)
    if delivery.refused:
        raise DeliveryError(
            f"{settings.where} accepted the message but refused "
            + ", ".join(f"{k} ({v})" for k, v in delivery.refused.items())
            + " — check those addresses"
        )
    return delivery
