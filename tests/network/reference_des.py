"""A slow, literal event-driven DES used as the reference of the fast kernel.

It follows the authors' description: a heap of events (time, entity id); at each event the entity asks its
current link for the first free window at or after its arrival (a list of busy windows per link, searched
in time order); if the window is shorter than the transmission, the entity sends what fits and resumes at
the window's end (never happens when events are processed in time order, which the kernel relies on).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.network.traffic import Messages


def reference_des(mesh: Mesh, messages: Messages, bw: float, chunk_bytes: float | None = None,
                  hop_latency_s: float = 0.0) -> tuple[np.ndarray, int]:
    """Per-message arrival times and the number of window splits that happened."""
    entities = []  # (message, bytes)
    for m, size in enumerate(messages.size_bytes):
        if chunk_bytes is None:
            entities.append((m, float(size)))
        else:
            n = max(1, math.ceil(size / chunk_bytes))
            entities += [(m, float(chunk_bytes))] * (n - 1) + [(m, float(size - (n - 1) * chunk_bytes))]
    routes = [mesh.route(int(messages.src[m]), int(messages.dst[m])) for m, _ in entities]
    heap = [(0.0, e, size, 0) for e, (_, size) in enumerate(entities) if routes[e]]
    heapq.heapify(heap)
    windows: dict[int, list[tuple[float, float]]] = {}
    finish = np.zeros(messages.num_messages)
    splits = 0
    while heap:
        t, e, remaining, hop = heapq.heappop(heap)
        link = routes[e][hop]
        start, room = t, math.inf
        for a, b in sorted(windows.get(link, [])):
            if b <= start:
                continue
            if a > start:
                room = a - start
                break
            start = b
        need = remaining / bw
        used = min(need, room)
        windows.setdefault(link, []).append((start, start + used))
        if used < need:
            splits += 1
            heapq.heappush(heap, (start + used, e, remaining - used * bw, hop))
        elif hop + 1 == len(routes[e]):
            m = entities[e][0]
            finish[m] = max(finish[m], start + used + hop_latency_s)
        else:
            heapq.heappush(heap, (start + used + hop_latency_s, e, entities[e][1], hop + 1))
    return finish, splits
