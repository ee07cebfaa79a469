"""CtrlConfig: the seed's defaults, validation, files, precedence; each algorithm's own
settings."""

import dataclasses
import json

import pytest

from sumprobe.errors import DataError
from sumprobe.rl.config import (
    CtrlConfig,
    ctrl_config_from_text,
    load_config,
    read_config_file,
)

# The seed's configuration as the issue lists it (its reference: `reference`, the policy).
SEED = {
    "lm_name": "lvwerra/gpt2-imdb", "reference": "lvwerra/gpt2-imdb",
    "cls_model_name": "lvwerra/distilbert-imdb", "steps": 25600, "batch_size": 128,
    "forward_batch_size": 8, "ppo_epochs": 4, "txt_in_len": 5, "txt_out_len": 20, "lr": 1.41e-5,
    "init_kl_coef": 0.2, "target": 6, "horizon": 10000, "gamma": 1, "lam": 0.95,
    "cliprange": 0.2, "cliprange_value": 0.2, "vf_coef": 0.1, "seed": 1,
}


def test_defaults_are_the_seeds():
    config = CtrlConfig()
    flat = {**config.to_dict(), "reference": config.reference}
    for key, value in SEED.items():
        assert flat[key] == value, key
    assert config.tk_name is None  # the policy's tokenizer
    assert config.ref_lm_name is None  # the policy as it starts
    assert config.updates == 200  # 25600 samples at 128 per update


def test_every_field_is_documented():
    from sumprobe.rl.algorithms import option_classes

    for cls in (CtrlConfig, *option_classes()):
        for f in dataclasses.fields(cls):
            assert f.metadata["help"].strip(), f.name


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": 1}, "batch_size must be >= 2"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"gamma": 1.5}, "gamma must be <= 1"),
    ({"init_kl_coef": -0.1}, "init_kl_coef must be >= 0"),
    ({"reward": "stars"}, "reward must be one of"),
    ({"algo": "dpo"}, "algo must be one of"),
    ({"steps": 2.5}, "steps must be an integer"),
    ({"adap_kl_ctrl": "yes"}, "adap_kl_ctrl must be true or false"),
    ({"horizon": float("inf")}, "horizon must be finite"),
    ({"batch_size": 10, "mini_batch_size": 4}, "multiple of mini_batch_size"),
    ({"algo": "grpo", "batch_size": 6, "num_generations": 4}, "multiple of num_generations"),
    ({"lm_name": None}, "lm_name must be set"),
])
def test_bad_values_are_named(changes, message):
    with pytest.raises(DataError, match=message):
        CtrlConfig.from_dict(changes)


def test_yaml_file_then_options(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("batch_size: 16\nlr: 1e-4\nsteps: 64\nreward: vader\n", encoding="utf-8")
    config = load_config(path, steps=32, data=None)
    assert (config.batch_size, config.lr, config.steps, config.reward) == (16, 1e-4, 32, "vader")
    assert config.data is None


def test_json_file_and_base(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"txt_out_len": 8, "gamma": 1}), encoding="utf-8")
    config = load_config(path, base={"txt_out_len": 4, "seed": 9})
    assert (config.txt_out_len, config.seed, config.algo_options.gamma) == (8, 9, 1.0)


@pytest.mark.parametrize("text, message", [
    ("batch_size: [1\n", "invalid YAML"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("batchsize: 8\n", "unknown field.*batchsize"),
    ("lr: fast\n", "field 'lr' should be a number"),
    ("batch_size: 1\n", "batch_size must be >= 2"),
    ("lm_name: 5\n", "field 'lm_name' should be text"),
])
def test_bad_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_config_file(tmp_path / "nope.json")


def test_empty_yaml_is_defaults(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("", encoding="utf-8")
    assert load_config(path) == CtrlConfig()


def test_reference_defaults_to_the_policy():
    assert CtrlConfig(lm_name="my/policy").reference == "my/policy"
    assert CtrlConfig(lm_name="my/policy", ref_lm_name="my/ref").reference == "my/ref"
    assert load_config(lm_name="my/policy").reference == "my/policy"
    help_text = CtrlConfig.__dataclass_fields__["ref_lm_name"].metadata["help"]
    assert "[default: --lm-name" in help_text  # what ctrl-train --help says


def test_an_older_runs_saved_reference_is_kept(tmp_path):
    from sumprobe.rl.checkpoint import CONFIG_FILE, read_config

    # Runs saved before the reference defaulted to the policy wrote ref_lm_name out.
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"lm_name": "mine", "ref_lm_name":
                                                    "lvwerra/gpt2-imdb"}), encoding="utf-8")
    saved = read_config(tmp_path)
    assert (saved.lm_name, saved.reference) == ("mine", "lvwerra/gpt2-imdb")


def test_settings_as_one_mapping_for_the_harness(tmp_path):
    config = ctrl_config_from_text("{reward: vader, batch-size: 8, lr: 1e-4, adap_kl_ctrl: no, "
                                   "model: m}", base={"seed": 3})
    assert (config.reward, config.batch_size, config.lr, config.seed) == ("vader", 8, 1e-4, 3)
    assert (config.lm_name, config.algo_options.adap_kl_ctrl) == ("m", False)
    assert ctrl_config_from_text("") == CtrlConfig()
    file = tmp_path / "run.yaml"
    file.write_text("steps: 64\nreward: vader\n")
    config = ctrl_config_from_text(f'{{"config": "{file}", "reward": "classifier"}}')
    assert (config.steps, config.reward) == (64, "classifier")  # the text wins over its file


@pytest.mark.parametrize("text, message", [
    ("{batch_sise: 8}", r"unknown field\(s\) batch_sise \(did you mean batch_size\?\)"),
    ("{batch_size: eight}", "batch_size must be a number, got 'eight'"),
    ("[1, 2]", "expected a mapping"),
    ("{a: [1", "not a YAML or JSON mapping"),
    ("{algo: rloo, ppo_epochs: 2}", "ppo_epochs is a setting of --algo ppo, and --algo rloo "
                                    "does not use it"),
])
def test_settings_text_errors_name_the_setting(text, message):
    with pytest.raises(DataError, match="^harness: " + message):
        ctrl_config_from_text(text, where="harness")


def test_a_setting_of_another_algorithm_is_an_error_not_a_no_op():
    with pytest.raises(DataError, match="num_generations is a setting of --algo rloo, grpo"):
        CtrlConfig.from_dict({"num_generations": 8})  # PPO's run
    with pytest.raises(DataError, match="mini_batch_size is a setting of --algo ppo"):
        CtrlConfig.from_dict({"algo": "grpo", "mini_batch_size": 8})
    saved = CtrlConfig.from_dict({"algo": "grpo", "mini_batch_size": 16, "num_generations": 2},
                                 legacy=True)  # older runs wrote every setting out
    assert saved.to_dict()["num_generations"] == 2 and "mini_batch_size" not in saved.to_dict()


def test_mini_batch_default_is_batched_and_capped_at_the_batch():
    from sumprobe.rl.options import PPOOptions

    assert CtrlConfig().algo_options.mini_batch_size > 1  # the seed's 1 is one option away
    # A mini-batch larger than the batch is the batch: recorded as what ran.
    capped = CtrlConfig.from_dict({"batch_size": 8, "mini_batch_size": 16})
    assert capped.to_dict()["mini_batch_size"] == 8
    help_text = PPOOptions.__dataclass_fields__["mini_batch_size"].metadata["help"]
    assert "1 is the seed's exact behaviour" in help_text


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": 16, "mini_batch_size": 8, "backward_batch_size": 3}, "multiple of "
     "backward_batch_size"),
    ({"held_out": 0.9}, "held_out must be <= 0.5"),
    ({"save_total_limit": 0}, "save_total_limit must be >= 1"),
])
def test_new_fields_are_checked(changes, message):
    with pytest.raises(DataError, match=message):
        CtrlConfig.from_dict(changes)


def test_the_old_name_of_save_total_limit_is_read(tmp_path):
    from sumprobe.rl.checkpoint import CONFIG_FILE, read_config

    assert CtrlConfig.from_dict({"keep_checkpoints": 3}).save_total_limit == 3
    # A run saved before held_out existed trained on everything: it must not claim otherwise.
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"lm_name": "m", "keep_checkpoints": 2}))
    saved = read_config(tmp_path)
    assert (saved.save_total_limit, saved.held_out) == (2, 0.0)
    assert CtrlConfig().held_out == 0.1
