"""The ``serve`` verb: the local web app (:mod:`pixelar.web`) for a run, a saved model or a
directory of them."""

from __future__ import annotations

import argparse

from pixelar.errors import PixelarError
from pixelar.training import resolve_device


def cmd_serve(args: argparse.Namespace) -> int:
    from pixelar.web import serve

    if args.run is None:
        from pixelar.pretrained import ROOT, list_pretrained

        if not list_pretrained():
            raise PixelarError("this pixelar has no pretrained models; pass a run or saved model directory")
        args.run = ROOT
    serve(args.run, host=args.host, port=args.port, device=str(resolve_device(args.device)))
    return 0
