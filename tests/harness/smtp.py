"""Test harness: an in-process SMTP server (re-exported from parley.devnet.smtp_sink).

``SmtpSink`` is a real SMTP server (aiosmtpd) with optional STARTTLS and AUTH; ``.url`` is
the ``[pager] smtp_url`` that reaches it, ``.messages`` the mails it accepted, and
``.wait_for(predicate, timeout)`` waits for one. Use it as a context manager, or the
``smtp_sink`` fixture of tests/watch/conftest.py.
"""

from parley.devnet.smtp_sink import SmtpSink

__all__ = ["SmtpSink"]
