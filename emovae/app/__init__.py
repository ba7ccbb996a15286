"""The app's logic, kept free of Gradio so it can be tested without a server.

Each module returns plain data (numpy audio, plotly figures, numpy images, dataclasses); ``app.py``
turns that into Gradio components and wires the events. Gradio-specific concerns (``gr.Error``,
``gr.Progress``, ``gr.Request``) stay in ``app.py``.
"""
