"""Seeded, deterministic synthetic RGB-D scenes made by ray casting (NumPy only).

Each scene is a room seen from a pinhole camera a person's height above the floor: a textured
ground plane, a back wall and two side walls, and a few spheres and boxes standing on the
floor, under a sun with Lambert shading, cast shadows and a little haze. The depth map is
z-depth (distance along the optical axis) in metres, which is what depth datasets store.

Scene ``i`` of split ``s`` depends only on ``(seed, s, i)``: a training set and a validation
set made with the same seed never share a scene, and any subset can be regenerated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}

# Every camera ray hits a wall (the room is closed in front of the camera); z-depths are
# clipped to this so that the default --max-depth covers every pixel.
SCENE_MAX_DEPTH = 20.0


@dataclass(frozen=True)
class _Hit:
    t: np.ndarray  # z-depth of the nearest hit per ray (inf where none)
    normal: np.ndarray  # (n, 3) surface normal at the hit
    albedo: np.ndarray  # (n, 3) surface colour at the hit


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    """Camera-to-world rotation: pitch about x, then yaw about y."""
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return ry @ rx


def _checker(u: np.ndarray, v: np.ndarray, size: float) -> np.ndarray:
    return ((np.floor(u / size) + np.floor(v / size)) % 2).astype(np.float64)


def _value_noise(p: np.ndarray, rng_phase: np.ndarray) -> np.ndarray:
    """Cheap smooth texture: a sum of a few sinusoids in 3-D with random phases."""
    total = np.zeros(p.shape[0])
    for k in range(3):
        freq = 1.5 * (k + 1)
        total += np.sin(freq * p @ rng_phase[k, :3] + rng_phase[k, 3]) / (k + 1)
    return 0.5 + 0.3 * total / 1.83


class _SceneBuilder:
    """Draws one random scene description from ``rng`` and renders it."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.cam_height = rng.uniform(1.2, 1.9)
        self.yaw = rng.uniform(-0.35, 0.35)
        self.pitch = rng.uniform(-0.22, 0.05)  # mostly looking slightly down
        self.fov = np.deg2rad(rng.uniform(55.0, 65.0))
        self.back_z = rng.uniform(9.0, 16.0)
        self.left_x = -rng.uniform(3.0, 7.0)
        self.right_x = rng.uniform(3.0, 7.0)
        sun = np.array([rng.uniform(-0.6, 0.6), 1.0, rng.uniform(-0.8, -0.1)])
        self.sun = sun / np.linalg.norm(sun)
        self.ambient = rng.uniform(0.25, 0.45)
        self.haze = rng.uniform(0.01, 0.04)
        self.haze_colour = rng.uniform(0.6, 0.9, size=3)
        self.floor_colours = rng.uniform(0.15, 0.95, size=(2, 3))
        self.floor_tile = rng.uniform(0.4, 1.6)
        self.wall_colours = rng.uniform(0.2, 0.95, size=(3, 3))
        self.wall_phase = rng.uniform(-1.0, 1.0, size=(3, 4)) * np.array([1, 1, 1, np.pi])
        self.spheres = self._place_spheres()
        self.boxes = self._place_boxes()

    def _free_spot(self) -> tuple[float, float]:
        x = self.rng.uniform(self.left_x + 0.8, self.right_x - 0.8)
        z = self.rng.uniform(2.0, self.back_z - 0.8)
        return x, z

    def _place_spheres(self) -> list[tuple[np.ndarray, float, np.ndarray]]:
        spheres = []
        for _ in range(self.rng.integers(1, 5)):
            r = self.rng.uniform(0.3, 1.1)
            x, z = self._free_spot()
            spheres.append((np.array([x, r, z]), r, self.rng.uniform(0.1, 1.0, size=3)))
        return spheres

    def _place_boxes(self) -> list[tuple[np.ndarray, np.ndarray, float, np.ndarray]]:
        boxes = []
        for _ in range(self.rng.integers(1, 5)):
            half = self.rng.uniform([0.25, 0.2, 0.25], [1.0, 1.3, 1.0])
            x, z = self._free_spot()
            centre = np.array([x, half[1], z])
            boxes.append((centre, half, self.rng.uniform(-0.8, 0.8), self.rng.uniform(0.1, 1.0, 3)))
        return boxes

    # ---- intersections (rays o + t*d with d[.,2] == 1 in camera space, so t is z-depth) ----

    def _planes(self, o: np.ndarray, d: np.ndarray, hit: _Hit) -> None:
        p_all = None
        # (normal, offset, kind): n·p = offset, normal facing into the room
        planes = [
            (np.array([0.0, 1.0, 0.0]), 0.0, "floor"),
            (np.array([0.0, 0.0, -1.0]), -self.back_z, "wall0"),
            (np.array([1.0, 0.0, 0.0]), self.left_x, "wall1"),
            (np.array([-1.0, 0.0, 0.0]), -self.right_x, "wall2"),
        ]
        for normal, offset, kind in planes:
            denom = d @ normal
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (offset - o @ normal) / denom
            ok = (denom < -1e-9) & (t > 1e-6) & (t < hit.t)
            if not ok.any():
                continue
            p_all = o + t[:, None] * d
            p = p_all[ok]
            if kind == "floor":
                c = _checker(p[:, 0], p[:, 2], self.floor_tile)[:, None]
                col = self.floor_colours[0] * c + self.floor_colours[1] * (1 - c)
                col = col * (0.75 + 0.5 * _value_noise(p * 3.0, self.wall_phase)[:, None])
            else:
                idx = int(kind[-1])
                base = self.wall_colours[idx]
                stripes = 0.8 + 0.2 * np.sign(np.sin(p[:, 1] * 4.0 + idx))
                col = base * (stripes * (0.6 + 0.8 * _value_noise(p, self.wall_phase)))[:, None]
            hit.t[ok] = t[ok]
            hit.normal[ok] = normal
            hit.albedo[ok] = np.clip(col, 0.0, 1.0)

    def _sphere_t(self, o: np.ndarray, d: np.ndarray, centre: np.ndarray, r: float) -> np.ndarray:
        oc = o - centre
        a = np.einsum("ij,ij->i", d, d)
        b = 2.0 * (d @ oc) if oc.ndim == 1 else 2.0 * np.einsum("ij,ij->i", d, oc)
        c = (oc @ oc if oc.ndim == 1 else np.einsum("ij,ij->i", oc, oc)) - r * r
        disc = b * b - 4 * a * c
        t = np.full(d.shape[0], np.inf)
        ok = disc > 0
        sq = np.sqrt(np.where(ok, disc, 0.0))
        t0 = (-b - sq) / (2 * a)
        t1 = (-b + sq) / (2 * a)
        near = np.where(t0 > 1e-6, t0, t1)
        good = ok & (near > 1e-6)
        t[good] = near[good]
        return t

    def _box_t(
        self, o: np.ndarray, d: np.ndarray, centre: np.ndarray, half: np.ndarray, angle: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Slab test in the box's own frame (rotated about y); returns t and world normals."""
        ca, sa = np.cos(angle), np.sin(angle)
        rot = np.array([[ca, 0, -sa], [0, 1, 0], [sa, 0, ca]])  # world -> box
        lo = (o - centre) @ rot.T
        ld = d @ rot.T
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / ld
            t1 = (-half - lo) * inv
            t2 = (half - lo) * inv
        tmin = np.minimum(t1, t2)
        tmax = np.maximum(t1, t2)
        tmin = np.where(np.isnan(tmin), -np.inf, tmin)
        tmax = np.where(np.isnan(tmax), np.inf, tmax)
        t_near = tmin.max(axis=1)
        t_far = tmax.min(axis=1)
        axis = tmin.argmax(axis=1)
        good = (t_near <= t_far) & (t_near > 1e-6)
        t = np.where(good, t_near, np.inf)
        local_n = np.zeros_like(ld)
        rows = np.arange(ld.shape[0])
        local_n[rows, axis] = -np.sign(ld[rows, axis])
        return t, local_n @ rot

    def _objects(self, o: np.ndarray, d: np.ndarray, hit: _Hit) -> None:
        for centre, r, colour in self.spheres:
            t = self._sphere_t(o, d, centre, r)
            ok = t < hit.t
            if ok.any():
                p = o + t[ok, None] * d[ok]
                n = (p - centre) / r
                shade = 0.8 + 0.2 * _checker(np.arctan2(n[:, 0], n[:, 2]) * 3, n[:, 1] * 3, 1.0)
                hit.t[ok] = t[ok]
                hit.normal[ok] = n
                hit.albedo[ok] = colour * shade[:, None]
        for centre, half, angle, colour in self.boxes:
            t, normals = self._box_t(o, d, centre, half, angle)
            ok = t < hit.t
            if ok.any():
                hit.t[ok] = t[ok]
                hit.normal[ok] = normals[ok]
                hit.albedo[ok] = colour * (0.85 + 0.15 * normals[ok, 1:2])

    def _occluded(self, points: np.ndarray) -> np.ndarray:
        """True where the segment from a surface point towards the sun hits an object."""
        d = np.broadcast_to(self.sun, points.shape).copy()
        o = points + 1e-3 * d
        blocked = np.zeros(points.shape[0], dtype=bool)
        for centre, r, _ in self.spheres:
            blocked |= np.isfinite(self._sphere_t(o, d, centre, r))
        for centre, half, angle, _ in self.boxes:
            blocked |= np.isfinite(self._box_t(o, d, centre, half, angle)[0])
        return blocked

    def render(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        f = 0.5 * width / np.tan(self.fov / 2)
        v, u = np.mgrid[0:height, 0:width].astype(np.float64)
        d_cam = np.stack(
            [(u + 0.5 - width / 2) / f, -(v + 0.5 - height / 2) / f, np.ones_like(u)], axis=-1
        ).reshape(-1, 3)
        d = d_cam @ _rotation(self.yaw, self.pitch).T
        o = np.array([0.0, self.cam_height, 0.0])
        n_rays = d.shape[0]
        hit = _Hit(np.full(n_rays, np.inf), np.zeros((n_rays, 3)), np.zeros((n_rays, 3)))
        self._planes(o, d, hit)
        self._objects(o, d, hit)
        # The room is closed in front of the camera, so every ray has hit something.
        points = o + hit.t[:, None] * d
        lambert = np.clip(hit.normal @ self.sun, 0.0, 1.0)
        lit = np.where(self._occluded(points), 0.0, lambert)
        shade = self.ambient + (1.0 - self.ambient) * lit
        colour = hit.albedo * shade[:, None]
        fog = np.exp(-self.haze * hit.t)[:, None]
        colour = colour * fog + self.haze_colour * (1.0 - fog)
        colour = colour + self.rng.normal(0.0, 0.01, size=colour.shape)
        rgb = np.clip(colour * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(height, width, 3)
        depth = np.minimum(hit.t, SCENE_MAX_DEPTH).astype(np.float32).reshape(height, width, 1)
        return rgb, depth


def render_scene(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (uint8 RGB of shape [size, size, 3], float32 z-depth in metres [size, size, 1])."""
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_IDS)}")
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    return _SceneBuilder(rng).render(size, size)


def make_dataset(
    seed: int, split: str, count: int, size: int, start: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` scenes as stacked arrays: images uint8 [N,H,W,3], depths float32 [N,H,W,1]."""
    images = np.empty((count, size, size, 3), dtype=np.uint8)
    depths = np.empty((count, size, size, 1), dtype=np.float32)
    for i in range(count):
        images[i], depths[i] = render_scene(seed, split, start + i, size)
    return images, depths
