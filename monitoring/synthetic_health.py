"""What `manage.py synthetic_health` says about a synthetic report: its exit code and its table."""

from __future__ import annotations

from datetime import datetime

from monitoring.stats import Report, Verdict, format_duration

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_NO_DATA = 0, 1, 2


def exit_code(report: Report) -> int:
    """0 healthy (green or amber), 1 a check fails, 2 nothing to judge (no endpoints or runs)."""
    if not report.has_data:
        return EXIT_NO_DATA
    return EXIT_UNHEALTHY if report.verdict == Verdict.RED else EXIT_HEALTHY


def _ms(value: int | None) -> str:
    return "-" if value is None else str(value)


def _age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    return f"{int((now - then).total_seconds())}s ago"


def render_table(report: Report) -> str:
    header = (
        f"Synthetic health over the last {format_duration(report.window)} "
        f"({report.since:%Y-%m-%d %H:%M:%S} to {report.until:%H:%M:%S} UTC), "
        f"min success {report.min_success:.0%}: {report.verdict.value.upper()}"
    )
    columns = (
        "JOB",
        "ENDPOINT",
        "RUNS",
        "OK",
        "SUCCESS",
        "NEEDED",
        "P50 MS",
        "P95 MS",
        "MAX MS",
        "LATE P95 MS",
        "LAST RUN",
        "LAST",
        "VERDICT",
    )
    rows = [
        (
            check.job_name,
            check.endpoint_name,
            str(check.stats.runs),
            str(check.stats.successes),
            "-" if check.stats.success_rate is None else f"{check.stats.success_rate:.1%}",
            f"{check.required_success_rate:.1%}",
            _ms(check.stats.p50_duration_ms),
            _ms(check.stats.p95_duration_ms),
            _ms(check.stats.max_duration_ms),
            _ms(check.stats.p95_lateness_ms),
            _age(check.stats.last_run_at, report.until),
            check.stats.last_status or "-",
            check.verdict.value,
        )
        for check in report.checks
    ]
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
    lines = [header, ""]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [columns, *rows]
    ]
    if report.problems:
        lines += ["", *(f"- {problem}" for problem in report.problems)]
    return "\n".join(lines)
