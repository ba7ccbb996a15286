"""emovae web app: explore the dataset, train, generate and analyse uploads (Gradio).

Thin by design: this file lays out the components and wires events to the tab services of
:class:`emovae.app.root.AppServices`, which hold all logic and return plain data. Library errors are turned into ``gr.Error`` here so the
visitor sees one clear sentence instead of a traceback.

    python app.py                 # http://127.0.0.1:7860 on the embedded demo bundle
    python app.py --host 0.0.0.0  # listen on all interfaces (Spaces does this by itself)
"""

from __future__ import annotations

import argparse
import functools
from typing import Any, Callable

import gradio as gr
from gradio.components.plot import PlotData

from emovae.app import figures
from emovae.app.checkpoints import DEMO_CHECKPOINT
from emovae.app.dataset_service import CHUNK_SECONDS
from emovae.app.generation_service import FIRST_CLIP, SINGLE_MODE, TRAJECTORY_MODE
from emovae.app.paths import public_text
from emovae.app.root import AppServices
from emovae.app.settings import AppSettings
from emovae.emotion import PRESETS

MODES = [SINGLE_MODE, TRAJECTORY_MODE]
# The browser's own <audio> player: light, accessible, and our plot already shows waveform + spectrogram.
NATIVE_PLAYER = gr.WaveformOptions(show_recording_waveform=False)
CSS = "#emotion-map img, #chunk-map img, #upload-map img {cursor: crosshair;}"


def user_errors(fn: Callable) -> Callable:
    """Show expected failures (bad values, missing files, refused paths) as a gr.Error message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, LookupError, FileNotFoundError, PermissionError, RuntimeError) as exc:
            raise gr.Error(public_text(str(exc)).strip("'\""), print_exception=False) from None

    return wrapper


def strict_api_inputs(demo: gr.Blocks) -> None:
    """Refuse an API call with the wrong number of values, or a non-file where a file belongs.

    Gradio checks both before any handler runs, and answers with an empty error
    (``{"error": null}``) or, for extra values, drops them silently. A caller sends the visible
    inputs only (Gradio fills session-state inputs with null before this check) or all of them.
    """
    check = demo.validate_inputs

    def validate(block_fn, inputs):
        endpoint = f"/{block_fn.api_name or block_fn.name}"
        if len(inputs) != len(block_fn.inputs):
            visible = [b for b in block_fn.inputs if not b.stateful]
            names = ", ".join(getattr(b, "label", None) or type(b).__name__ for b in visible)
            raise gr.Error(f"{endpoint} takes {len(visible)} values [{names}] but got {len(inputs)}",
                           print_exception=False)
        for block, value in zip(block_fn.inputs, inputs):
            if isinstance(block, gr.File) and not (value is None or (isinstance(value, dict) and "path" in value)):
                raise gr.Error(f"{endpoint}: {block.label or 'file'}={value!r} ({type(value).__name__}) must be an "
                               'uploaded file ({"path": ...} as returned by /upload; gradio_client: handle_file)',
                               print_exception=False)
        check(block_fn, inputs)

    demo.validate_inputs = validate


def progress_hook(progress: gr.Progress) -> Callable[[int, int, str], None]:
    """The library's ``callable(done, total, message)`` progress hook, drawn as gr.Progress."""
    return lambda done, total, message: progress((done, max(total, 1)), desc=message)


def plotly_json(text: str | None) -> PlotData | None:
    """A plotly figure already serialised (``Figure.to_json()``) as a ``gr.Plot`` value, shipped as it is.

    ``gr.Plot`` takes its own data class unchanged; a restart's first clip thus reaches the page
    without importing plotly and rebuilding the Figure from the cache (~0.4 s of start-up).
    """
    return PlotData(type="plotly", plot=text) if text else None


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or ""


def build_app(app: AppServices) -> gr.Blocks:
    """Build the four tabs; the Generate tab opens first, holding a rendered clip (see ``_generate_tab``)."""
    # delete_cache: every response leaves its WAV/PNG (and every upload its file) in Gradio's cache
    with gr.Blocks(title="emovae — emotion-conditioned music", delete_cache=app.settings.delete_cache,
                   analytics_enabled=app.settings.gradio_analytics) as demo:
        checkpoint = gr.State(DEMO_CHECKPOINT)  # per session: which VAE generates (and analyses uploads)
        dataset_key = gr.State("")  # per session: the dataset opened in the Dataset tab
        header = gr.Markdown("# emovae — music from an emotion\n" + app.status_markdown())
        with gr.Tabs(selected="generate"):
            with gr.Tab("Generate", id="generate"):
                renderer = _generate_tab(app, demo, checkpoint)
            with gr.Tab("Dataset", id="dataset") as dataset_tab:
                _dataset_tab(app, dataset_key, dataset_tab)
            with gr.Tab("Training", id="training"):
                session_open = _training_tab(app, demo, checkpoint, dataset_key, renderer)
            with gr.Tab("Upload", id="upload"):
                _upload_tab(app, checkpoint, dataset_key)
        # A page load opens the session (API clients call /open_session): only such a session may own a run.
        demo.load(lambda: True, None, session_open, api_name="open_session", show_progress="hidden")
        _header_updates(app, demo, header, checkpoint, renderer)
    return demo


def _header_updates(app: AppServices, demo: gr.Blocks, header: gr.Markdown, checkpoint: gr.State,
                    renderer: gr.Radio) -> None:
    """While the pretrained-codec demo builds in the background, the header shows its progress; once the
    default switches, a session generating with ``demo`` gets the renderers the new codec allows."""
    timer = gr.Timer(2.0, active=False)

    def refresh(label):
        text = "# emovae — music from an emotion\n" + app.status_markdown()
        changing = app.header_changing
        switched = app.bundle is not None and app.bundle.codec_identity.get("weights") == "pretrained"
        radio = renderer_update(app, label) if switched and label == DEMO_CHECKPOINT else gr.skip()
        return text, radio, gr.Timer(active=changing)

    demo.load(refresh, checkpoint, [header, renderer, timer], api_visibility="private", show_progress="hidden",
              concurrency_limit=None)
    timer.tick(refresh, checkpoint, [header, renderer, timer], api_visibility="private", show_progress="hidden",
               concurrency_limit=None)


def renderer_update(app: AppServices, label: str) -> gr.Radio:
    """The renderer choices the checkpoint's codec allows (``neural`` only where it can be built)."""
    return gr.Radio(choices=app.generation.renderer_choices(label), info=app.generation.renderer_note(label))


# --------------------------------------------------------------------------------------- Generate
def _generate_tab(app: AppServices, demo: gr.Blocks, checkpoint: gr.State) -> gr.Radio:
    """Lay out and wire the Generate tab; returns the renderer radio (its choices arrive on page load).

    The first clip is in the page when the app cache holds it (every start but a host's first);
    otherwise the warm-up renders it after the server starts and each page receives it on load.
    """
    first = app.generation.cached_first_screen()
    v0, a0 = FIRST_CLIP["valence"], FIRST_CLIP["arousal"]
    with gr.Row():
        with gr.Column(scale=5):
            emotion_map = gr.Image(
                value=figures.render_emotion_map(marker=(v0, a0)),
                label="Emotion map — click to set the emotion and generate (blue box: where real DEAM songs lie)",
                elem_id="emotion-map", interactive=False, format="png", buttons=[], height=430,
            )
        with gr.Column(scale=6):
            with gr.Row():
                presets = {name: gr.Button(name.capitalize(), size="sm", elem_id=f"preset-{name}") for name in PRESETS}
            mode = gr.Radio(MODES, value=MODES[0], label="Mode", info="trajectory: sliders set A, a map click sets B")
            with gr.Row():
                valence = gr.Slider(0, 1, value=v0, step=0.01, label="Valence (A)", elem_id="valence")
                arousal = gr.Slider(0, 1, value=a0, step=0.01, label="Arousal (A)", elem_id="arousal")
            with gr.Row(visible=False) as end_row:
                valence_end = gr.Slider(0, 1, value=0.1, step=0.01, label="Valence (B)")
                arousal_end = gr.Slider(0, 1, value=0.1, step=0.01, label="Arousal (B)")
            with gr.Row():
                renderer = gr.Radio(["synth", "rules", "neural"], value="synth", label="Renderer", info="checking the codec…",
                                    elem_id="renderer")
                seconds = gr.Slider(1, app.settings.max_generate_seconds, value=10, step=1, label="Duration (s)")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=2**31 - 1, label="Seed")
                temperature = gr.Slider(0, 2, value=1.0, step=0.05, label="Temperature")
            generate = gr.Button("Generate", variant="primary", elem_id="generate-button")
    with gr.Row():
        with gr.Column(scale=5):
            audio = gr.Audio(value=str(first.path) if first else None, label="Generated music", type="filepath",
                             interactive=False, elem_id="generated-audio", waveform_options=NATIVE_PLAYER)
            with gr.Row():
                download = gr.File(value=str(first.path) if first else None, label="Download (WAV)", interactive=False)
                midi = gr.File(value=str(first.midi) if first and first.midi else None, label="Download (MIDI)",
                               interactive=False, elem_id="generated-midi")
            info = gr.Markdown(first.markdown if first else "rendering the first clip…", elem_id="clip-info")
        with gr.Column(scale=6):
            plot = gr.Plot(value=plotly_json(first.figure_json) if first else None, label="Waveform and spectrogram")

    inputs = [checkpoint, mode, valence, arousal, valence_end, arousal_end, renderer, seconds, seed, temperature]
    outputs = [audio, download, info, emotion_map, midi]  # midi last: the API's first four values keep their places
    run = user_errors(app.generation.generate_outputs)
    draw = user_errors(app.generation.clip_figure)

    # preprocess=False: the API's raw values reach the library's checks, which name the field and its range
    # (the components' own preprocessing would round seed=1.5 to 2, or fail without a message on "abc")
    generate.click(run, inputs, outputs, api_name="generate", concurrency_id="generate", preprocess=False).then(
        draw, audio, plot, api_visibility="private"
    )
    mode.change(lambda m: gr.Row(visible=m == MODES[1]), mode, end_row, api_visibility="private")

    def on_map_click(mode_value, v, a, evt: gr.SelectData):
        v_new, a_new = app.generation.click_to_emotion(*evt.index)
        if mode_value == MODES[1]:
            return v, a, v_new, a_new
        return v_new, a_new, gr.skip(), gr.skip()

    emotion_map.select(on_map_click, [mode, valence, arousal], [valence, arousal, valence_end, arousal_end],
                       api_visibility="private").then(run, inputs, outputs, api_visibility="private", concurrency_id="generate").then(
        draw, audio, plot, api_visibility="private"
    )
    gr.api(user_errors(app.generation.click_to_emotion), api_name="click_map")
    for name, button in presets.items():
        button.click(lambda n=name: (*PRESETS[n], MODES[0]), None, [valence, arousal, mode], api_name=f"preset_{name}").then(
            run, inputs, outputs, api_visibility="private", concurrency_id="generate"
        ).then(draw, audio, plot, api_visibility="private")

    def on_page_load():
        """The codec's verdict for the renderer choices, and the first clip if the page was built without it."""
        screen = app.first_screen()  # waits for the warm-up (a few seconds, only right after start)
        radio = renderer_update(app, DEMO_CHECKPOINT)
        if first is not None:
            return radio, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if screen is None:
            return radio, None, None, public_text(app.status_markdown()), None, None
        return (radio, str(screen.path), str(screen.path), screen.markdown, plotly_json(screen.figure_json),
                str(screen.midi) if screen.midi else None)

    # no concurrency limit: waiting for the warm-up must not hold a slot that generations queue for
    demo.load(on_page_load, None, [renderer, audio, download, info, plot, midi], api_visibility="private",
              show_progress="hidden", concurrency_limit=None)
    return renderer


# ---------------------------------------------------------------------------------------- Dataset
def _dataset_tab(app: AppServices, dataset_key: gr.State, tab: gr.Tab) -> None:
    gr.Markdown(
        "Songs (static labels) and their chunks (dynamic labels where DEAM has per-second ratings). "
        "`demo` is the bundled demo dataset (its labels open at once; a chunk's audio is rendered when played); "
        "a DEAM folder must lie inside `data/` (`EMOVAE_DATA_DIR`)."
    )
    with gr.Row():
        root = gr.Textbox(value="demo", label="Dataset root", scale=4)
        chunk_seconds = gr.Radio(list(CHUNK_SECONDS), value=app.dataset.default_chunk_seconds, label="Chunk length (s)", scale=2)
        open_button = gr.Button("Open dataset", variant="primary", scale=1)
    summary = gr.Markdown()
    with gr.Row():
        va_plot = gr.Plot(label="Valence / arousal map")
        with gr.Column():
            chunk_map = gr.Image(label="Click a point to play the nearest chunk", elem_id="chunk-map",
                                 interactive=False, format="png", buttons=[], height=430)
    with gr.Row():
        hist = gr.Plot(label="Label distributions")
        with gr.Column():
            with gr.Row():
                chunk_id = gr.Textbox(label="Chunk id (hover the map to see ids)", scale=3)
                play_button = gr.Button("Play chunk", scale=1)
            chunk_audio = gr.Audio(label="Chunk", interactive=False, waveform_options=NATIVE_PLAYER, elem_id="chunk-audio")
            chunk_info = gr.Markdown()

    @user_errors
    def open_dataset(text, seconds, progress=gr.Progress()):
        return app.dataset.open_outputs(text, seconds, progress_hook(progress))

    @user_errors
    def play_nearest(key, evt: gr.SelectData):
        return app.dataset.play_nearest(key, *app.generation.click_to_emotion(*evt.index))

    def open_on_first_visit(key, text, seconds, progress=gr.Progress()):
        """Visiting the tab opens the typed root once per session, so the maps are never empty by default."""
        return (gr.skip(),) * 5 if key else open_dataset(text, seconds, progress)

    open_button.click(open_dataset, [root, chunk_seconds], [dataset_key, summary, va_plot, hist, chunk_map],
                      api_name="open_dataset", concurrency_id="dataset", preprocess=False)  # 5 and "5" both valid
    tab.select(open_on_first_visit, [dataset_key, root, chunk_seconds], [dataset_key, summary, va_plot, hist, chunk_map],
               api_visibility="private", concurrency_id="dataset")
    chunk_map.select(play_nearest, dataset_key, [chunk_audio, chunk_info], api_visibility="private")
    play_button.click(user_errors(app.dataset.play_chunk), [dataset_key, chunk_id], [chunk_audio, chunk_info], api_name="play_chunk")


# --------------------------------------------------------------------------------------- Training
def _training_tab(app: AppServices, demo: gr.Blocks, checkpoint: gr.State, dataset_key: gr.State,
                  renderer: gr.Radio) -> gr.State:
    """Lay out and wire the Training tab; returns the session-opened flag the page load sets."""
    session_open = gr.State(False)
    intro = gr.Markdown(app.training.intro_markdown(with_codec=False))
    with gr.Row():
        epochs = gr.Slider(1, 200, value=20, step=1, label="Epochs")
        batch_size = gr.Slider(2, 128, value=16, step=1, label="Batch size")
        learning_rate = gr.Number(value=1e-3, minimum=1e-6, maximum=1e-1, label="Learning rate")
        beta = gr.Number(value=0.5, minimum=0.0, maximum=10.0, label="β (KL weight)")
        latent_dim = gr.Slider(4, 128, value=32, step=4, label="Latent channels")
    with gr.Row():
        start = gr.Button("Start training", variant="primary")
        stop = gr.Button("Stop", variant="stop")
        run_id = gr.Textbox(label="Run id (yours only)", interactive=False)
    status = gr.Markdown()
    progress_bar = gr.Slider(0, 100, value=0, label="Progress (%)", interactive=False)
    curves = gr.Plot(label="Losses (train solid, validation dashed)")
    with gr.Row():
        checkpoints = gr.Dropdown(choices=app.checkpoints.choices(""), label="Checkpoints", scale=4, allow_custom_value=False)
        typed = gr.Textbox(label="…or a checkpoint path inside the checkpoint folders", scale=4)
        load = gr.Button("Use for generation", scale=1)
    loaded = gr.Markdown()
    timer = gr.Timer(1.0, active=False)

    @user_errors
    def start_run(e, b, lr, be, ld, key, opened, request: gr.Request):
        state = app.training.start(session_of(request), e, b, lr, be, ld, key, session_open=bool(opened))
        return state.run_id, f"Run **{state.run_id}** started.", gr.Timer(active=True)

    @user_errors
    def stop_run(rid, request: gr.Request):
        state = app.training.stop(rid, session_of(request))
        return f"Run **{state.run_id}**: {state.message or state.status}"

    def poll(rid, request: gr.Request):
        view = app.training.view(rid, session_of(request))
        return (public_text(view.markdown), view.percent, figures.training_curves(view.history),
                gr.Dropdown(choices=app.checkpoints.choices(session_of(request))), gr.Timer(active=view.active))

    @user_errors
    def use_checkpoint(choice, text):
        label = app.checkpoints.select(choice, text)
        return label, f"Generating (and analysing uploads) with **{public_text(label)}**."

    start.click(start_run, [epochs, batch_size, learning_rate, beta, latent_dim, dataset_key, session_open], [run_id, status, timer],
                api_name="start_training", concurrency_id="training", preprocess=False)
    stop.click(stop_run, run_id, status, api_name="stop_training")
    timer.tick(poll, run_id, [status, progress_bar, curves, checkpoints, timer], api_visibility="private",
               show_progress="hidden")
    @user_errors
    def training_status(run_id: str, request: gr.Request) -> dict:
        return app.training.status(run_id, session_of(request))

    gr.api(training_status, api_name="training_status")
    demo.load(app.training.intro_markdown, None, intro, api_visibility="private", show_progress="hidden",
              concurrency_limit=None)
    load.click(use_checkpoint, [checkpoints, typed], [checkpoint, loaded], api_name="use_checkpoint").then(
        user_errors(functools.partial(renderer_update, app)), checkpoint, renderer, api_visibility="private")
    return session_open


# ----------------------------------------------------------------------------------------- Upload
def _upload_tab(app: AppServices, checkpoint: gr.State, dataset_key: gr.State) -> None:
    gr.Markdown(app.upload.intro_markdown())
    with gr.Row():
        clip = gr.File(label="Clip", file_types=[".wav", ".mp3", ".ogg", ".flac"], type="filepath")
        analyse = gr.Button("Analyse", variant="primary")
    notes = gr.Markdown()
    with gr.Row():
        emotion_image = gr.Image(label="Estimated emotion", elem_id="upload-map", interactive=False, format="png",
                                 buttons=[], height=430)
        latent_plot = gr.Plot(label="Latent map")
    neighbours = gr.Dataframe(label="Nearest training chunks (select a row to play it)", interactive=False)
    neighbour_audio = gr.Audio(label="Nearest chunk", interactive=False, waveform_options=NATIVE_PLAYER)

    @user_errors
    def run(path, label, progress=gr.Progress()):
        result = app.upload.analyse(path, label, progress_hook(progress))
        return result.markdown, result.emotion_image, result.latent_figure, result.neighbours

    @user_errors
    def play(table, key, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        return app.upload.play_neighbour(str(table.iloc[int(row)]["chunk_id"]), key)

    analyse.click(run, [clip, checkpoint], [notes, emotion_image, latent_plot, neighbours], api_name="analyse_upload",
                  concurrency_id="analyse")
    neighbours.select(play, [neighbours, dataset_key], neighbour_audio, api_visibility="private")


def launch_kwargs(settings: AppSettings) -> dict:
    """Everything ``launch`` needs: loopback by default, the upload cap, styling."""
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "max_file_size": settings.max_file_size,
        "css": CSS,
        "footer_links": ["api", "gradio"],
    }


def create_app(settings: AppSettings) -> tuple[gr.Blocks, AppServices]:
    """Services + UI + queue (a concurrency cap so several visitors share the CPU fairly)."""
    app = AppServices.create(settings)
    demo = build_app(app)
    strict_api_inputs(demo)
    demo.queue(max_size=settings.max_queue_size, default_concurrency_limit=settings.concurrency_limit)
    return demo, app


def serve(demo: gr.Blocks, app: AppServices, settings: AppSettings, **extra: Any) -> None:
    """Launch, then warm up (torch, the first clip, the codec check) once the server answers.

    Warming up after the launch keeps the two from competing for the CPU; a page loaded before the
    warm-up ends waits for it (and a page load starts it, should nobody have).
    """
    demo.launch(**launch_kwargs(settings), **extra)
    app.start_warm_up()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1; 0.0.0.0 on Spaces)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860 or $GRADIO_SERVER_PORT)")
    args = parser.parse_args(argv)
    settings = AppSettings.from_env(host=args.host, port=args.port)
    demo, app = create_app(settings)
    serve(demo, app, settings)


if __name__ == "__main__":
    main()
