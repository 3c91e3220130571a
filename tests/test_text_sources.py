"""The text side of the checkpoint contract: where label texts come from, and how many per granularity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuron_core.checkpoint import CheckpointMeta
from neuron_core.errors import DescriptionError
from neuron_core.model import class_prototypes
from neuron_core.prompts import GRANULARITIES, TextContract, class_text_embeddings, encode_classes
from neuron_core.recognizer import ZeroShotRecognizer
from neuron_core.text_encoders import HashingEncoder
from tests.doubles import DIM, tiny_model

ENC = HashingEncoder(DIM)


def test_bank_texts_replace_name_prompts_only_for_labels_the_bank_knows() -> None:
    labels = ["walking", "zxqv flurble"]
    names = class_text_embeddings(ENC, labels, "names", k=4)
    bank = class_text_embeddings(ENC, labels, "bank", k=4)
    assert not np.allclose(names[0], bank[0])  # "walking" has bank descriptions
    assert np.allclose(names[1], bank[1])  # an unknown word keeps its name prompts
    both = class_text_embeddings(ENC, labels, "bank+names", k=4)
    assert (
        both.shape == (2, 6, 8, DIM)
        and np.allclose(both[:, :, :4], bank)
        and np.allclose(both[:, :, 4:], names)
    )
    assert np.allclose(names, encode_classes(ENC, labels, None, 4))
    with pytest.raises(DescriptionError, match="unknown text source"):
        class_text_embeddings(ENC, labels, "llm", k=4)


def test_given_descriptions_win_over_the_bank() -> None:
    own = {"walking": {g: ["my own words"] for g in GRANULARITIES}}
    out = class_text_embeddings(ENC, ["walking"], "bank", own, k=2)
    assert np.allclose(out, encode_classes(ENC, ["walking"], own, 2))


def test_meta_carries_the_text_contract_and_old_metadata_means_name_prompts() -> None:
    old = CheckpointMeta.from_dict({"text_encoder": "hashing", "text_dim": DIM})
    assert old.text.source == "names" and old.text.prompts_per_granularity == 10
    with pytest.raises(ValueError, match="text_source"):
        CheckpointMeta.from_dict({"text_encoder": "hashing", "text_dim": DIM, "text_source": "llm"})
    with pytest.raises(ValueError, match="prompts_per_granularity"):
        CheckpointMeta.from_dict({"text_encoder": "hashing", "text_dim": DIM, "prompts_per_granularity": 0})


def test_recognizer_follows_the_checkpoint_text_contract() -> None:
    meta = CheckpointMeta(
        text_encoder=ENC.name, text_dim=DIM, text=TextContract(source="bank", prompts_per_granularity=3)
    )
    rec = ZeroShotRecognizer(tiny_model(), meta, ENC)
    assert rec.k == 3
    rec.set_labels(["walking", "sit down", "zxqv"])
    _, classes = rec._snapshot()
    expected = class_prototypes(torch.from_numpy(class_text_embeddings(ENC, rec.labels, "bank", k=3)))
    torch.testing.assert_close(torch.from_numpy(classes), expected)


def test_a_prior_calibrated_checkpoint_without_its_reference_is_refused(tmp_path) -> None:
    from neuron_core.checkpoint import load_checkpoint, save_checkpoint
    from neuron_core.errors import CheckpointError

    model = tiny_model(calibration="prior")
    save_checkpoint(tmp_path / "m.pt", model, CheckpointMeta(text_encoder=ENC.name, text_dim=DIM))
    with pytest.raises(CheckpointError, match="reference embedding"):
        load_checkpoint(tmp_path / "m.pt")
    ref = torch.nn.functional.normalize(torch.randn(6, DIM), dim=-1).tolist()
    meta = CheckpointMeta(text_encoder=ENC.name, text_dim=DIM, reference_embedding=ref)
    save_checkpoint(tmp_path / "m.pt", model, meta)
    loaded, meta2 = load_checkpoint(tmp_path / "m.pt")
    assert loaded.config.calibration == "prior" and meta2.reference().shape == (6, DIM)


def test_a_recognizer_refuses_prior_calibration_without_a_reference() -> None:
    from neuron_core.errors import ModelError

    model = tiny_model(calibration="prior")
    with pytest.raises(ModelError, match="reference embedding"):
        ZeroShotRecognizer(model, CheckpointMeta(text_encoder=ENC.name, text_dim=DIM), ENC)
