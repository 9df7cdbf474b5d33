"""Concurrent requests of one pull, in order, with a progress bar on long pulls."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from tqdm import tqdm

from .errors import _short


class Pool:
    """Runs the requests of one pull on `max_workers` threads sharing its deadline."""

    def _map(self, fn: Callable, items: list, desc: str | None,
             check: Callable | None = None) -> list:
        """``[fn(x) for x in items]`` on the thread pool, in order; `check` sees each result."""
        workers = min(self.max_workers, len(items))
        if workers == 1:
            return self._inline(fn, items, desc, check)
        results: list = [None] * len(items)
        bar = self._bar(len(items), desc)
        todo = iter(enumerate(items))
        running: dict = {}
        with ThreadPoolExecutor(workers) as pool:
            try:
                while self._submit(pool, fn, todo, running, 2 * workers) or running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = results[running.pop(future)] = future.result()
                        if check:
                            check(result)
                        bar.update()
            except BaseException:
                for future in running:
                    future.cancel()
                raise
            finally:
                bar.close()
        return results

    def _inline(self, fn: Callable, items: list, desc: str | None,
                check: Callable | None) -> list:
        """One after another on this thread: no thread, and no allocator arena of its own."""
        results = []
        with self._bar(len(items), desc if len(items) > 1 else None) as bar:
            for item in items:
                results.append(fn(item))
                if check:
                    check(results[-1])
                bar.update()
        return results

    @staticmethod
    def _submit(pool, fn: Callable, todo, running: dict, ahead: int) -> bool:
        """Queue tasks until `ahead` are waiting or running; False when none is left.
        Submitting on demand keeps a long pull's bookkeeping to a few tasks at a time."""
        while len(running) < ahead:
            task = next(todo, None)
            if task is None:
                return False
            # Each task runs in a copy of this context, so it shares the pull's deadline.
            running[pool.submit(contextvars.copy_context().run, fn, task[1])] = task[0]
        return True

    def _bar(self, total: int, desc: str | None) -> tqdm:
        # Automatic bars wait half a second, so quick pulls stay quiet.
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        return tqdm(total=total, desc=_short(desc or "", 40), unit="chunk", leave=False,
                    file=sys.stderr, disable=not (show and desc),
                    delay=0 if self.progress else 0.5)

