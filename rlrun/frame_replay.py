"""A replay store for stacked frames (Atari) that keeps each frame once.

An observation is the last k frames [k, H, W] uint8 and the next observation shares k-1 of them,
so storing obs and next_obs whole costs 2k frames per transition (56 KB at 84x84, k = 4: 56 GB for
a million transitions). Here a frame ring holds every frame once and each transition holds k + 1
indices into it: its observation's k frames and the newest frame of the next observation. At
sampling, the stacks are gathered from the ring: the same arrays as storing them whole, episode
boundaries included (tests/test_frame_replay.py).

Bytes per transition (84x84, k = 4): 7056 (its new frame) + 4 * (k + 1) (int32 indices) + 8 + 1 + 1 + 4
(action int64, terminated, truncated, reward float32) = 7090, plus 441 for the ring's spare
frames (7531; scripts/bench_frame_replay.py measures it), which hold the frames of episode starts
(up to k per episode, fewer where they repeat: one for gymnasium's FrameStackObservation, which
pads with the first frame). The frame ring has room for capacity + capacity/16 + 2 k E frames;
should episode starts need more (episodes shorter than ~16 steps on average), the oldest
transitions are dropped before their frames are overwritten, never sampled stale.

Transitions must arrive as the collector gives them: step-major rows of the E environments, each
env's steps in order (rlrun.rollout.TransitionCollector).
"""

from __future__ import annotations

import numpy as np
import torch


class FrameReplayBuffer:
    def __init__(self, capacity: int, obs_shape: tuple[int, ...], num_envs: int, device: torch.device):
        self.k, self.E, self.device = obs_shape[0], num_envs, device
        self.rows = -(-capacity // num_envs)  # ring of rows of E transitions
        self.capacity = self.rows * num_envs
        self.num_frames = self.capacity + self.capacity // 16 + 2 * self.k * num_envs
        self.frames = torch.zeros((self.num_frames, *obs_shape[1:]), dtype=torch.uint8, device=device)
        shape = (self.rows, num_envs)
        self.ids = torch.zeros((*shape, self.k + 1), dtype=torch.int32, device=device)
        self.data = {
            "actions": torch.zeros(shape, dtype=torch.long, device=device),
            "rewards": torch.zeros(shape, dtype=torch.float32, device=device),
            "terminated": torch.zeros(shape, dtype=torch.bool, device=device),
            "truncated": torch.zeros(shape, dtype=torch.bool, device=device),
        }
        # host bookkeeping: frame ids count up forever; a frame lives at id % num_frames
        self.written = 0  # frames written so far
        self.oldest = np.zeros(self.rows, dtype=np.int64)  # the oldest frame id each row refers to
        self.stack = np.zeros((num_envs, self.k), dtype=np.int64)  # each env's current obs, frame ids
        self.known = np.zeros(num_envs, dtype=bool)  # False: the env's next obs starts an episode
        self.tail, self.filled = 0, 0  # the oldest row, rows held

    @property
    def size(self) -> int:
        return self.filled * self.E

    def add(self, batch: dict) -> None:
        """Append transitions (dict of obs, actions, rewards, next_obs, terminated, truncated), in
        rows of E, step-major."""
        obs = torch.as_tensor(batch["obs"], device=self.device)
        next_obs = torch.as_tensor(batch["next_obs"], device=self.device)
        done = (torch.as_tensor(batch["terminated"]) | torch.as_tensor(batch["truncated"])).cpu().numpy()
        # which frames of each stack repeat the one before (episode starts): one host copy per add
        same = (obs[:, 1:] == obs[:, :-1]).flatten(2).all(-1).cpu().numpy()
        # chunks that write fewer frames than the ring holds: no position written twice in one go
        chunk = max(1, self.num_frames // (2 * self.E * (self.k + 1))) * self.E
        for start in range(0, len(done), chunk):
            part = slice(start, start + chunk)
            rest = {key: torch.as_tensor(batch[key][part], device=self.device) for key in self.data}
            self._add_rows(obs[part], next_obs[part], done[part], same[part], rest)

    def _add_rows(
        self, obs: torch.Tensor, next_obs: torch.Tensor, done: np.ndarray, same: np.ndarray, rest: dict
    ) -> None:
        """The bookkeeping row by row on the host; then one write per tensor on the device."""
        E, k = self.E, self.k
        starts, start_ids = [], []  # (transition, frame in its stack) of episode starts, their ids
        newest, rows, ids_rows = [], [], []
        for r in range(len(done) // E):
            for e in np.flatnonzero(~self.known):  # the env's obs begins an episode: its frames
                for j in range(k):
                    if j > 0 and same[r * E + e, j - 1]:
                        self.stack[e, j] = self.stack[e, j - 1]
                    else:
                        starts.append((r * E + e) * k + j)
                        start_ids.append(self.written)
                        self.stack[e, j], self.written = self.written, self.written + 1
            self.known[:] = True
            new = self.written + np.arange(E)  # the newest frame of each next obs
            self.written += E
            row = (self.tail + self.filled) % self.rows
            if self.filled == self.rows:  # the ring is full: drop the oldest row
                self.tail, self.filled = (self.tail + 1) % self.rows, self.filled - 1
            ids = np.concatenate([self.stack, new[:, None]], axis=1)
            self.oldest[row] = ids.min()
            self.filled += 1
            self.stack, self.known = ids[:, 1:].copy(), ~done[r * E : (r + 1) * E]  # (ids is kept)
            newest.append(new)
            rows.append(row)
            ids_rows.append(ids)
            # frames overwritten by now: drop the rows that refer to them (only when episode
            # starts outgrew the ring's spare room)
            while self.filled and self.oldest[self.tail] < self.written - self.num_frames:
                self.tail, self.filled = (self.tail + 1) % self.rows, self.filled - 1
        device, F = self.device, self.num_frames
        if starts:
            self.frames[torch.as_tensor(np.array(start_ids) % F, device=device)] = obs.flatten(0, 1)[
                torch.as_tensor(starts, device=device)
            ]
        self.frames[torch.as_tensor(np.concatenate(newest) % F, device=device)] = next_obs[:, -1]
        where = torch.as_tensor(np.array(rows), device=device)
        self.ids[where] = torch.as_tensor(np.stack(ids_rows) % F, dtype=torch.int32, device=device)
        for key, store in self.data.items():
            store[where] = rest[key].view(len(rows), E).to(store.dtype)

    def _gather(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The transitions at flat indices into the held rows (0 = the oldest)."""
        rows = (self.tail + flat // self.E) % self.rows
        envs = flat % self.E
        ids = self.ids[rows, envs].long()
        out = {key: store[rows, envs] for key, store in self.data.items()}
        out["obs"] = self.frames[ids[:, : self.k]]
        out["next_obs"] = self.frames[ids[:, 1:]]
        return out

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        flat = torch.randint(0, self.size, (batch_size,), device=self.device, generator=generator)
        return self._gather(flat)

    def all(self) -> dict[str, torch.Tensor]:
        """Every held transition, oldest first, with whole stacks (large: for datasets)."""
        return self._gather(torch.arange(self.size, device=self.device))

    def state_dict(self) -> dict:
        host = {"written": self.written, "tail": self.tail, "filled": self.filled}
        arrays = {"oldest": self.oldest, "stack": self.stack, "known": self.known}
        return {
            **host,
            **{key: torch.from_numpy(value.copy()) for key, value in arrays.items()},
            "frames": self.frames,
            "ids": self.ids,
            "data": self.data,
        }

    def load_state_dict(self, state: dict) -> None:
        self.written, self.tail, self.filled = state["written"], state["tail"], state["filled"]
        self.oldest, self.stack = state["oldest"].numpy().copy(), state["stack"].numpy().copy()
        self.known = state["known"].numpy().copy()
        # the saved geometry (`rlrun eval` makes the store with as many envs as episodes)
        self.frames, self.ids = state["frames"].to(self.device), state["ids"].to(self.device)
        self.data = {key: state["data"][key].to(self.device) for key in self.data}
        self.num_frames, (self.rows, self.E) = len(self.frames), self.ids.shape[:2]
        self.capacity = self.rows * self.E
