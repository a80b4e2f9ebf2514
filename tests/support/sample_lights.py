"""One light of each near and distant type, in the lights-file form (engine frame, metres), for tests."""

LIGHTS = [
    {"type": "sun", "direction": [0.3, 0.6, 0.74], "rgb": [2.0, 1.8, 1.5], "angle_deg": 4.0},
    {"type": "point", "position": [-2.0, 1.0, 2.5], "rgb": [30.0, 30.0, 40.0], "radius": 0.1},
    {"type": "spot", "position": [0.0, 3.0, 3.0], "direction": [0.0, -0.7071, -0.7071], "rgb": [60.0, 50.0, 40.0],
     "cone_deg": 50.0, "blend": 0.3},
    {"type": "area", "position": [2.0, 0.5, 2.0], "direction": [-0.7071, 0.0, -0.7071], "size": [1.0, 0.5],
     "shape": "ellipse", "rgb": [5.0, 5.0, 5.0]},
]
