"""emovae web app (Gradio). Placeholder page until the app issue lands; it must launch."""

import argparse
import os

import gradio as gr


def build_app() -> gr.Blocks:
    with gr.Blocks(title="emovae") as demo:
        gr.Markdown("# emovae\nEmotion-conditioned music generation. The full app is being built.")
    return demo


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args()
    build_app().launch(server_name=args.host, server_port=args.port)
