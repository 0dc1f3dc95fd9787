"""``humanfx export-otio``: a real clip, render and mattes, read back with OpenTimelineIO."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from editor_plugin.cli import main
from editor_plugin.exports.mattes import MatteSpec, export_mattes
from editor_plugin.media import Codec, probe
from editor_plugin.render import FrameRange, RenderSpec, render
from editor_plugin.session import ClipSession
from editor_plugin.synth_io import write_synthetic_clip
from effects.backgrounds import parse_background
from inference.errors import InputError
from inference.synth import SynthConfig

NTSC = Fraction(30000, 1001)


@pytest.fixture
def edited(tmp_path):
    clip, tracks = write_synthetic_clip(tmp_path, SynthConfig(people=2, frames=12, width=96,
                                                              height=64, seed=1, fps=NTSC))
    session = ClipSession(clip)
    imported = session.import_tracks(tracks)
    out = render(session, RenderSpec(persons=(1,), background=parse_background("color:#0000ff"),
                                     codec=Codec.FFV1, frames=FrameRange(0, 10)),
                 tmp_path / "render.mkv")
    mattes = export_mattes(session, MatteSpec(codec=Codec.FFV1), tmp_path / "mattes")
    return session, imported.cache_path, out, mattes


def _range(r: otio.opentime.TimeRange) -> tuple[float, float, float]:
    return r.start_time.value, r.duration.value, r.duration.rate


def test_otio_round_trip(tmp_path, edited):
    session, cache_file, rendered, mattes = edited
    out = tmp_path / "edit.otio"
    assert main(["export-otio", str(session.path), "-o", str(out), "--render", str(rendered),
                 "--mattes", str(tmp_path / "mattes")]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".edit.otio")]
    tl = otio.adapters.read_from_file(str(out))
    assert isinstance(tl, otio.schema.Timeline)
    info = session.info
    assert info.fps == NTSC and info.frame_count == 12
    rate = float(NTSC)

    meta = tl.metadata["humanfx"]
    assert meta["content_hash"] == session.clip_hash
    assert Path(meta["layer_cache"]) == cache_file and cache_file.is_file()
    assert meta["layers_source"] == "import"
    assert Fraction(meta["fps"]) == NTSC and Fraction(meta["time_base"]) == info.time_base
    assert meta["frame_count"] == 12
    names = {t.id: t.name for t in session.persons()}
    assert [(p["id"], p["name"]) for p in meta["persons"]] == sorted(names.items())

    video = [t.name for t in tl.video_tracks()]
    assert video == ["source", "render", "person-1", "person-2"]
    assert [t.name for t in tl.audio_tracks()] == ["source audio"]

    def only_clip(track: otio.schema.Track) -> otio.schema.Clip:
        clips = list(track.find_clips())
        assert len(clips) == 1
        return clips[0]

    expect = {"source": (session.path, 12), "render": (rendered, 10),
              "person-1": (mattes.persons[1], 12), "person-2": (mattes.persons[2], 12)}
    for track in tl.video_tracks():
        path, frames = expect[track.name]
        c = only_clip(track)
        ref = c.media_reference
        assert isinstance(ref, otio.schema.ExternalReference)
        assert ref.target_url == path.resolve().as_uri()
        assert _range(ref.available_range) == (0, frames, rate)
        assert _range(c.source_range) == (0, frames, rate)
        assert probe(path).frame_count == frames
        assert track.duration().rate == rate
    assert otio.opentime.RationalTime(12, rate).to_seconds() == pytest.approx(
        float(Fraction(12) / NTSC))
    assert tl.duration().value == 12 and tl.duration().rate == rate

    roles = {t.name: only_clip(t).metadata["humanfx"] for t in tl.tracks}
    assert roles["source"] == {"role": "source"} and roles["render"] == {"role": "render"}
    assert roles["person-2"]["person_id"] == 2 and roles["person-2"]["person_name"] == names[2]
    audio = only_clip(tl.audio_tracks()[0])
    assert audio.media_reference.target_url == session.path.resolve().as_uri()
    assert audio.metadata["humanfx"] == {"role": "audio"}


def test_otio_png_mattes_and_errors(tmp_path, edited):
    session, _, _, _ = edited
    export_mattes(session, MatteSpec(codec=Codec.PNG, persons=(2,),
                                     frames=FrameRange(3, 12)), tmp_path / "png")
    from editor_plugin.exports.otio import export_otio

    out = export_otio(session, tmp_path / "seq.otio", mattes_dir=tmp_path / "png")
    tl = otio.adapters.read_from_file(str(out))
    assert [t.name for t in tl.video_tracks()] == ["source", "person-2"]
    track = tl.video_tracks()[1]
    gap, c = list(track)
    assert isinstance(gap, otio.schema.Gap) and gap.duration().value == 3
    ref = c.media_reference
    assert isinstance(ref, otio.schema.ImageSequenceReference)
    assert ref.start_frame == 3 and ref.frame_zero_padding == 6
    first = Path(otio.url_utils.filepath_from_url(ref.target_url_for_image_number(0)))
    assert first.is_file() and first.name == "person-2.000003.png"
    assert c.duration().value == 9

    with pytest.raises(InputError, match="not found"):
        export_otio(session, tmp_path / "x.otio", render=tmp_path / "missing.mkv")
    assert not (tmp_path / "x.otio").exists()
    (tmp_path / "empty").mkdir()
    assert main(["export-otio", str(session.path), "-o", str(tmp_path / "y.otio"),
                 "--mattes", str(tmp_path / "empty")]) == 1
