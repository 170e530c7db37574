"""Word when work is done: the tab's title, a short beep and a browser notification.

All of it happens in the browser. When a status card (a video's, a variant's or a batch's)
turns done while the tab is hidden, the title says so until the tab is seen again, a short
WebAudio beep plays if "Sound when done" is ticked, and a notification appears if the visitor
granted the permission. The permission is asked only when "Notify me" is clicked, never on load.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ._parts import QUIET

__all__ = ["ASK_JS", "WATCH_JS", "NotifyParts", "place", "wire"]

#: The status cards whose turning done is news (not History's, which shows old work).
CARDS = "#lp-status .lp-status, [id^='lp-variant-'] .lp-status, #lp-batch-status .lp-status"

WATCH_JS = """
() => {
  if (window.lpNotify) return;
  const original = document.title;
  const known = new WeakSet();
  const cards = () => document.querySelectorAll(CARDS_SELECTOR);
  const done = (card) => card.dataset.tone === "done";
  const beep = () => {
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.08;
      tone.connect(gain).connect(audio.destination);
      tone.onended = () => audio.close();
      tone.start();
      tone.stop(audio.currentTime + 0.18);
    } catch (error) { /* no audio here: the title and the notification remain */ }
  };
  const announce = (card) => {
    const batch = Boolean(card.closest("#lp-batch-status"));
    const what = batch ? "Batch done" : "Video ready";
    const detail = (card.querySelector(".lp-phase") || {}).textContent || what;
    document.title = `✓ ${what} — ${original}`;
    window.lpNotify.announced.push(what);
    const sound = document.querySelector("#lp-notify-sound input");
    if (sound && sound.checked) beep();
    if ("Notification" in window && Notification.permission === "granted") {
      try { new Notification(`✓ ${what}`, { body: detail, tag: "luma-playground" }); }
      catch (error) { /* some browsers allow notifications from a service worker only */ }
    }
  };
  const look = () => {
    for (const card of cards()) {
      if (!done(card) || known.has(card)) continue;
      known.add(card);
      if (document.hidden) announce(card);
    }
  };
  window.lpNotify = { original, announced: [] };
  for (const card of cards()) if (done(card)) known.add(card);  // done before this visit: not news
  new MutationObserver(look).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-tone"],
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) document.title = original;
  });
}
""".replace("CARDS_SELECTOR", repr(CARDS))

ASK_JS = """
async () => {
  const button = document.querySelector("#lp-notify-ask");
  if (!("Notification" in window)) {
    if (button) button.textContent = "Notifications unavailable";
    return;
  }
  const answer = await Notification.requestPermission();
  if (button) {
    button.dataset.permission = answer;
    button.textContent = answer === "granted" ? "Notifications on" : "Notifications blocked";
  }
}
"""


@dataclass(frozen=True)
class NotifyParts:
    """The sound checkbox and the button that asks for the notification permission."""

    sound: gr.Checkbox
    ask: gr.Button


def place() -> NotifyParts:
    """A small row: "Sound when done" and "Notify me"."""
    with gr.Row(elem_id="lp-notify", equal_height=True):
        sound = gr.Checkbox(
            label="Sound when done", value=False, scale=0, min_width=180, elem_id="lp-notify-sound"
        )
        ask = gr.Button("Notify me", size="sm", scale=0, min_width=140, elem_id="lp-notify-ask")
    return NotifyParts(sound, ask)


def wire(demo: gr.Blocks, parts: NotifyParts) -> None:
    """Watch the status cards from the page's load; ask for the permission on a click only."""
    demo.load(None, None, None, js=WATCH_JS, **QUIET)
    parts.ask.click(None, None, None, js=ASK_JS, **QUIET)
