# Quick start: `make main` runs the main job, `make test` runs the test suite.
# The main job: build the small `commands` corpus from speech synthesizers, train the compact
# log-mel CNN on it (experiments/kws_compact_cnn.py), evaluate the best checkpoint on held-out
# voices, clean and harsh, and classify a few of their clips.
# Both set up what they need first: Debian/Ubuntu packages (TTS engines, sox) and a
# virtual environment in .venv with audiojax installed in editable mode.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# What the tests need: two speech synthesizers, sox, libsndfile, venv, a C compiler (pesq builds
# from source), FluidSynth (the instruments corpus renders notes with it).
APT_PACKAGES := espeak-ng flite sox libsox-fmt-all libsndfile1 python3-venv gcc libfluidsynth3
# More voices for the corpora the main job builds (Debian main), and from contrib/non-free
# (mbrola, pico, RHVoice) where the machine's apt sources can enable those components.
VOICE_PACKAGES := festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts fortunes fortunes-min
NONFREE_VOICE_PACKAGES := mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-af1 \
  mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-fr1 mbrola-fr4 \
  mbrola-gr2 mbrola-hu1 mbrola-nl2 mbrola-pl1 mbrola-ro1 mbrola-sw1 mbrola-sw2 \
  libttspico-utils rhvoice rhvoice-english
# The MBROLA databases of other languages: more persons for the speakers corpus
# (`make speaker-voices`; audiojax/data/corpora/voices.py, MBROLA_OTHER_VOICES).
SPEAKER_VOICE_PACKAGES := $(foreach db,ar1 ar2 br1 br2 br3 br4 ca1 ca2 cr1 cz1 cz2 ee1 es1 es2 \
  es3 es4 fr2 fr3 fr5 fr6 fr7 de7 de8 gr1 hb1 hb2 ic1 id1 ir1 it1 it2 it3 it4 jp1 jp2 \
  jp3 la1 lt1 lt2 ma1 mx1 mx2 nl1 nl3 nz1 pt1 tl1 tr1 tr2 vz1,mbrola-$(db))
# Recorded sound that is not speech, for the enhance corpus's noise (`make noises`; Debian main;
# audiojax/data/corpora/noises.py lists the files it leaves out: sung or spoken ones).
NOISE_PACKAGES := sonic-pi-samples oxygen-sounds
# Recorded sound effects and drum kits for the events corpus (`make sounds`; Debian main, about
# 1.3 GB; audiojax/data/corpora/sound_events.tsv lists the files it takes: no speech or voices).
SOUND_PACKAGES := 7kaa-data alienblaster-data btanks-data bucklespring-data bzflag-data \
  chromium-bsu-data deepin-sound-theme dustracing2d-data freeciv-data frozen-bubble-data \
  hydrogen-data hydrogen-drumkits lincity-ng-data lmms-common lomiri-sounds lugaru-data \
  minetest-data scorched3d-data searchandrescue-data sonic-pi-samples sound-icons \
  stormbaancoureur-data supertux-data torcs-data
# General MIDI sound fonts for the instruments corpus (`make music`; Debian main, about 280 MB;
# audiojax/data/corpora/instruments.py: TimGM6mb is the held-out test font).
MUSIC_PACKAGES := timgm6mb-soundfont fluid-soundfont-gm opl3-soundfont
DEBIAN_SOURCES := /etc/apt/sources.list.d/debian.sources
NONFREE_SOURCES := /etc/apt/sources.list.d/audiojax-nonfree.sources
# The full device and bfloat16 matrix is marked slow: `make test PYTEST_ARGS="-n 2"` runs it too.
PYTEST_ARGS ?= -n 2 -m "not slow"

.PHONY: main demo test setup system-packages voices speaker-voices noises sounds music bench clean

MAIN_RUN := runs/kws_compact_cnn_small
MAIN_CORPUS := $${AUDIOJAX_DATA:-$$HOME/.cache/audiojax}/commands_small

main: setup voices
	$(BIN)/audiojax data build commands --size small
	$(BIN)/audiojax train --config experiments/kws_compact_cnn.py:small --workdir $(MAIN_RUN)
	$(BIN)/audiojax evaluate --workdir $(MAIN_RUN) --checkpoint best --split test_clean
	$(BIN)/audiojax evaluate --workdir $(MAIN_RUN) --checkpoint best --split test
	$(BIN)/audiojax data sample $(MAIN_CORPUS) --split test_clean --count 6 --seed 1 \
	  --output $(MAIN_RUN)/examples.tsv
	cut -f1 $(MAIN_RUN)/examples.tsv | xargs $(BIN)/audiojax predict --workdir $(MAIN_RUN)
	@echo "The article's raw-waveform classifier on the same corpus (experiments/README.md):"
	@echo "  $(BIN)/audiojax train --config experiments/kws_seed_cnn.py:small --workdir runs/kws_seed_cnn_small"

demo: setup
	$(BIN)/audiojax demo --out out/demo

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/frontends.py
	$(BIN)/python benchmarks/input_pipeline.py
	$(BIN)/python benchmarks/train_step.py

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

voices: system-packages
	@missing=$$(for p in $(VOICE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi
	@missing=$$(for p in $(NONFREE_VOICE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && [ -f $(DEBIAN_SOURCES) ]; then \
	  [ -f $(NONFREE_SOURCES) ] || sed 's/^Components: main$$/Components: contrib non-free/' \
	    $(DEBIAN_SOURCES) | $(SUDO) tee $(NONFREE_SOURCES) >/dev/null; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing \
	    || echo "note: contrib/non-free voices unavailable; the corpora use the voices installed"; \
	elif [ -n "$$missing" ]; then \
	  echo "note: enable contrib/non-free (Debian) or multiverse (Ubuntu) for $$missing"; fi

speaker-voices: voices
	$(MAKE) voices NONFREE_VOICE_PACKAGES="$(SPEAKER_VOICE_PACKAGES)"

noises: voices
	$(MAKE) voices VOICE_PACKAGES="$(NOISE_PACKAGES)"

sounds: system-packages
	@missing=$$(for p in $(SOUND_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    --no-install-recommends $$missing; fi

music: system-packages
	$(MAKE) sounds SOUND_PACKAGES="$(MUSIC_PACKAGES)"

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) out runs .pytest_cache
