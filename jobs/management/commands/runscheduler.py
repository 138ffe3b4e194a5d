"""runscheduler: the scheduler process (thin: options and signals; the loop is scheduling.worker)."""

from __future__ import annotations

import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs.scheduling.worker import ForcedStop, Worker, WorkerOptions

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Command(BaseCommand):
    help = (
        "Run the scheduler: claim due endpoints, call them, record the runs. Any number of "
        "processes may share a PostgreSQL database. SIGTERM/SIGINT drain and stop; a second "
        "signal stops at once."
    )

    def add_arguments(self, parser) -> None:
        defaults = WorkerOptions
        parser.add_argument(
            "--batch-size",
            type=int,
            default=defaults.batch_size,
            help=f"Endpoints per claim at most (default {defaults.batch_size}).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=defaults.concurrency,
            help=f"Requests in flight at most (default {defaults.concurrency}).",
        )
        parser.add_argument(
            "--shutdown-timeout",
            type=float,
            default=30.0,
            help="Seconds to let runs in flight finish after SIGTERM.",
        )
        parser.add_argument(
            "--lease-seconds",
            type=float,
            default=None,
            help="Lease length (default SCHEDULER_LEASE_SECONDS): a dead worker's endpoints "
            "are claimed again this long after its last heartbeat.",
        )
        parser.add_argument(
            "--once", action="store_true", help="One pass: run what is due now, then exit."
        )

    def handle(self, *args, **options) -> None:
        lease = options["lease_seconds"] or settings.SCHEDULER_LEASE_SECONDS
        heartbeat = settings.SCHEDULER_HEARTBEAT_SECONDS
        if options["batch_size"] < 1 or options["concurrency"] < 1:
            raise CommandError("--batch-size and --concurrency must be at least 1.", returncode=2)
        if options["shutdown_timeout"] < 0:
            raise CommandError("--shutdown-timeout must not be negative.", returncode=2)
        if lease < 2 * heartbeat:
            raise CommandError(
                f"--lease-seconds ({lease}) must be at least twice "
                f"SCHEDULER_HEARTBEAT_SECONDS ({heartbeat}), or live leases would expire.",
                returncode=2,
            )
        worker = Worker(
            WorkerOptions(
                batch_size=options["batch_size"],
                concurrency=options["concurrency"],
                shutdown_timeout=options["shutdown_timeout"],
                lease_seconds=lease,
                heartbeat_seconds=heartbeat,
            )
        )

        def on_signal(signum: int, frame: object) -> None:
            if worker.stopping:
                raise ForcedStop
            self.stderr.write(
                f"{signal.Signals(signum).name}: finishing the runs in flight "
                f"(at most {options['shutdown_timeout']:g} s); signal again to stop at once."
            )
            worker.request_stop()

        previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
        try:
            worker.run_once() if options["once"] else worker.run()
        except ForcedStop:
            self.stderr.write("Stopped at once: leases still held expire and are claimed again.")
            sys.exit(1)
        finally:
            for signum, handler in previous.items():  # call_command() runs it in-process too
                signal.signal(signum, handler)
