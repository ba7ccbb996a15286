"""emovae: emotion-conditioned music generation.

Stages flow one way: ``data`` -> ``codec`` -> ``model``/``train`` -> ``generate`` -> app.
``music`` (the composer) and the small helpers in this package (``emotion``, ``formats``,
``io``, ``audio``, ``device``) are base layers that any stage may use.
"""

__version__ = "0.1.0"
