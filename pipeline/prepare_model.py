"""Stage prepare_model: the base encoder as a transformers folder (models/base) and its
record (metrics/model.json)."""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

from xstilts.core.prepare_model import prepare_model_stage
from xstilts.core.stage import stage_setup

if __name__ == "__main__":
    prepare_model_stage(stage_setup("prepare_model"))
