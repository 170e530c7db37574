"""The playground's look: a Gradio theme and a little CSS."""

from __future__ import annotations

import gradio as gr

__all__ = ["CSS", "THEME"]

_SANS: list[gr.themes.Font | str] = [
    gr.themes.LocalFont("IBM Plex Sans"),
    "ui-sans-serif",
    "system-ui",
    "sans-serif",
]
_MONO: list[gr.themes.Font | str] = [gr.themes.LocalFont("IBM Plex Mono"), "ui-monospace", "monospace"]

THEME = gr.themes.Soft(
    primary_hue="violet",
    secondary_hue="indigo",
    neutral_hue="slate",
    radius_size="lg",
    font=_SANS,
    font_mono=_MONO,
).set(
    body_background_fill="linear-gradient(180deg, #f5f3ff 0%, #ffffff 320px)",
    body_background_fill_dark="linear-gradient(180deg, #1e1b3a 0%, #0f0f17 320px)",
    block_shadow="0 1px 2px rgb(15 23 42 / 0.06)",
    button_primary_background_fill="linear-gradient(90deg, #7c3aed, #4f46e5)",
    button_primary_background_fill_hover="linear-gradient(90deg, #6d28d9, #4338ca)",
    button_large_radius="12px",
)

CSS = """
/* Auto margins in a flex column shrink the container to its content: without the width it grew
   past a phone's screen to fit the examples table. */
.gradio-container { max-width: min(1240px, 100%) !important; width: 100%; margin: 0 auto; }
#lp-header { display: flex; align-items: flex-end; justify-content: space-between; gap: 1rem;
  flex-wrap: wrap; padding: .25rem .25rem .5rem; }
#lp-header h1 { font-size: 1.7rem; font-weight: 700; margin: 0; letter-spacing: -.01em; }
#lp-header h1 .lp-model { background: linear-gradient(90deg, #7c3aed, #4f46e5);
  -webkit-background-clip: text; background-clip: text; color: transparent; }
#lp-header p { margin: .2rem 0 0; color: var(--body-text-color-subdued); font-size: .95rem; }
#lp-title { flex: 3 1 440px !important; }
#lp-badge { flex: 2 1 300px !important; }
#lp-badge .lp-badges { justify-content: flex-end; text-align: right; }
.lp-badges { display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; font-size: .85rem;
  color: var(--body-text-color-subdued); }
.lp-badge { display: inline-flex; align-items: center; gap: .35rem; padding: .2rem .65rem;
  border-radius: 999px; font-weight: 600; font-size: .8rem; white-space: nowrap; }
.lp-badge::before { content: ""; width: .5rem; height: .5rem; border-radius: 50%;
  background: currentColor; }
.lp-badge-simulator { background: #fef3c7; color: #92400e; }
.lp-badge-user { background: #dcfce7; color: #166534; }
.lp-badge-server { background: #e0e7ff; color: #3730a3; }
.lp-summary { font-size: .85rem; color: var(--body-text-color-subdued); padding: 0 .25rem; }
#lp-actions button { min-height: 48px; font-size: 1.02rem; }
#lp-prompt-tools:empty { display: none; }

.lp-status { border: 1px solid var(--border-color-primary); border-radius: 14px;
  padding: .8rem 1rem; background: var(--block-background-fill); }
.lp-status-head { display: flex; align-items: center; gap: .55rem; flex-wrap: wrap; }
.lp-dot { width: .6rem; height: .6rem; border-radius: 50%; background: #94a3b8; flex: none; }
.lp-running .lp-dot { background: #7c3aed; animation: lp-pulse 1.2s ease-in-out infinite; }
.lp-done .lp-dot { background: #16a34a; }
.lp-error .lp-dot { background: #dc2626; }
.lp-cancelled .lp-dot { background: #d97706; }
.lp-phase { font-weight: 650; font-size: 1rem; }
.lp-meta { margin-left: auto; font-size: .85rem; color: var(--body-text-color-subdued);
  font-variant-numeric: tabular-nums; }
.lp-meta code, .lp-details code { font-size: .8rem; padding: .05rem .3rem; border-radius: 6px;
  background: var(--background-fill-secondary); }
.lp-detail { margin-top: .3rem; font-size: .9rem; color: var(--body-text-color-subdued); }
.lp-error { border-color: rgb(239 68 68 / 0.55); background: rgb(239 68 68 / 0.08); }
.lp-error .lp-detail { color: var(--body-text-color); }
.lp-cancelled { border-color: rgb(245 158 11 / 0.6); background: rgb(245 158 11 / 0.06); }
.lp-bar { margin-top: .65rem; height: 6px; border-radius: 999px; overflow: hidden;
  background: var(--background-fill-secondary); }
.lp-bar span { display: block; height: 100%; border-radius: 999px;
  background: linear-gradient(90deg, #7c3aed, #4f46e5); transition: width .6s ease; }
.lp-done .lp-bar span { background: #16a34a; transition: none; }
.lp-bar-busy span { width: 35%; animation: lp-slide 1.4s ease-in-out infinite; }
@keyframes lp-pulse { 50% { opacity: .35; } }
@keyframes lp-slide { 0% { margin-left: -35%; } 100% { margin-left: 100%; } }

#lp-details .lp-details { width: 100%; border-collapse: collapse; font-size: .88rem; margin: 0;
  border: 1px solid var(--border-color-primary); border-radius: 14px; overflow: hidden;
  border-style: hidden; box-shadow: 0 0 0 1px var(--border-color-primary); }
#lp-details .lp-details th, #lp-details .lp-details td { border: none; background: none;
  padding: .34rem .9rem; text-align: left; }
#lp-details .lp-details th { font-weight: 500; color: var(--body-text-color-subdued); width: 34%; }
#lp-details .lp-details td { font-variant-numeric: tabular-nums; }
#lp-details .lp-details tr + tr > * { border-top: 1px solid var(--border-color-primary); }
#lp-details:empty { display: none; }
#lp-video video { background: #0b0b12; }
#lp-footer { text-align: center; font-size: .8rem; color: var(--body-text-color-subdued);
  margin-top: .5rem; }

/* Power features: cost line, enhance, crop preview, several videos, share link. */
.lp-cost-line { display: flex; flex-wrap: wrap; align-items: baseline; gap: .15rem .75rem;
  margin-top: .15rem; font-variant-numeric: tabular-nums; }
.lp-cost-total { font-weight: 650; color: var(--body-text-color); }
.lp-sim-mark { display: inline-block; padding: .05rem .5rem; border-radius: 999px;
  background: #fef3c7; color: #92400e; font-size: .7rem; font-weight: 650;
  text-transform: uppercase; letter-spacing: .04em; }
.lp-cost-notice { margin-top: .4rem; padding: .45rem .7rem; border-radius: 10px;
  border: 1px solid rgb(245 158 11 / 0.6); background: rgb(245 158 11 / 0.1);
  color: var(--body-text-color); }
#lp-prompt-tools { gap: .5rem; }
#lp-suggestion-note .lp-suggestion-note { font-size: .85rem; color: var(--body-text-color-subdued); }
#lp-crop-note .lp-crop-note p { margin: 0 0 .3rem; font-size: .85rem;
  color: var(--body-text-color-subdued); }
#lp-share { align-items: center; gap: .5rem; }
#lp-share-link textarea, #lp-share-link input { font-size: .8rem; }
.lp-variant .lp-status { padding: .55rem .75rem; }
.lp-variant .lp-meta { margin-left: 0; width: 100%; overflow-wrap: anywhere; }
"""
