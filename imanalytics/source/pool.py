"""Concurrent requests of one pull, in order, with a progress bar on long pulls."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm import tqdm

from .errors import _short


class Pool:
    """Runs the requests of one pull on `max_workers` threads sharing its deadline."""

    def _map(self, fn: Callable, items: list, desc: str | None,
             check: Callable | None = None) -> list:
        """``[fn(x) for x in items]`` on the thread pool, in order; `check` sees each result."""
        if len(items) == 1:
            result = fn(items[0])
            if check:
                check(result)
            return [result]
        results: list = [None] * len(items)
        bar = self._bar(len(items), desc)
        with ThreadPoolExecutor(min(self.max_workers, len(items))) as pool:
            # Each task runs in a copy of this context, so it shares the pull's deadline.
            futures = {pool.submit(contextvars.copy_context().run, fn, item): i
                       for i, item in enumerate(items)}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    if check:
                        check(results[futures[future]])
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                bar.close()
        return results

    def _bar(self, total: int, desc: str | None) -> tqdm:
        # Automatic bars wait half a second, so quick pulls stay quiet.
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        return tqdm(total=total, desc=_short(desc or "", 40), unit="chunk", leave=False,
                    file=sys.stderr, disable=not (show and desc),
                    delay=0 if self.progress else 0.5)

