"""One call on a worker thread, followed from the host's main thread (standard library only).

Blender's UI thread must not wait on the engine (starting it takes seconds, a first job's submission
may integrate an HDRI): a modal operator starts the call here and looks at :attr:`BackgroundCall.done`
on its timer. The call must not touch ``bpy``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackgroundCall(Generic[T]):
    """``function()`` running on a daemon thread; :meth:`result` returns its value or raises its exception."""

    def __init__(self, function: Callable[[], T], name: str = "relume-call") -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function,), name=name, daemon=True)
        self._thread.start()

    def _run(self, function: Callable[[], T]) -> None:
        try:
            self._value = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by result()
            self._error = exc

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> T:
        """The call's value (waits for it); its exception re-raised on this thread."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
