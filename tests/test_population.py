"""Stacked (population) training must match training the members one at a time."""

import pytest
import torch

from replication import masks as M
from replication.population import Member, train_population
from replication.training import evaluate, train

from conftest import tiny_model, tiny_train


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 1.2e-3)])
def test_stacked_training_matches_one_at_a_time(digits, optimizer, lr):
    spec = tiny_train(optimizer=optimizer, lr=lr, epochs=3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(0)
    models = [tiny_model(seed) for seed in range(3)]
    starts = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    dense = M.dense_mask(models[0])
    masks = [dense, M.random_mask_like(dense, generator), M.prune_global(starts[2], dense, 0.5).mask]
    stacked, outcomes = train_population([Member(s, m, 10 + i) for i, (s, m) in enumerate(zip(starts, masks))],
                                         digits, spec)
    for i, model in enumerate(models):
        train(model, masks[i], digits, spec, 10 + i)
        alone = model.state_dict()
        for name, tensor in alone.items():
            torch.testing.assert_close(stacked[i][name], tensor, rtol=1e-4, atol=1e-5)
        acc_alone = evaluate(model, digits.x_test, digits.y_test)[1]
        model.load_state_dict(stacked[i])
        assert f"{evaluate(model, digits.x_test, digits.y_test)[1]:.3f}" == f"{acc_alone:.3f}"
        assert not outcomes[i].diverged
        for name, m in masks[i].items():  # pruned weights stay exactly zero
            assert torch.all(stacked[i][name][m == 0] == 0)
