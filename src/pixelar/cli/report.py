"""``pixelar report``: a training run as one HTML page (:func:`pixelar.run_report.write_report`)."""

from __future__ import annotations

import argparse

from pixelar.errors import PixelarError
from pixelar.run_report import write_report


def cmd_report(args: argparse.Namespace) -> int:
    if args.images < 0:
        raise PixelarError(f"--images must be at least 0, got {args.images}")
    path = write_report(args.run, args.output, images=args.images, device=args.device, progress=not args.quiet)
    print(path)
    return 0
