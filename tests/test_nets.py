import pytest
import torch
from torch import nn

from presgan_plugin.nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    build_networks,
)


@pytest.mark.parametrize("resolution", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_range(resolution, channels, gen):
    G = DCGANGenerator(latent_dim=16, channels=channels, resolution=resolution, width=8)
    D = DCGANDiscriminator(channels=channels, resolution=resolution, width=8)
    latent = torch.randn(5, 16, generator=gen)

    images = G(latent)
    logits = D(images)

    assert G.latent_dim == 16
    assert G.output_shape == (channels, resolution, resolution)
    assert images.shape == (5, channels, resolution, resolution)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert logits.shape == (5,)
    assert torch.isfinite(logits).all()


def test_generator_output_saturates_to_tanh_range(gen):
    # Large weights drive the last activation into tanh's flat ends.
    G = DCGANGenerator(latent_dim=8, resolution=28, width=8)  # train-mode batch norm
    with torch.no_grad():
        G.main[-2].weight.mul_(1e3)
    images = G(torch.randn(4, 8, generator=gen))

    assert images.abs().max() <= 1.0
    assert images.abs().max() > 0.99


def test_discriminator_returns_raw_logits(gen):
    D = DCGANDiscriminator(resolution=32, width=8)
    with torch.no_grad():
        D.main[-1].bias.fill_(5.0)
        D.main[-1].weight.zero_()

    logits = D(torch.randn(3, 1, 32, 32, generator=gen))

    # A sigmoid would have mapped 5.0 to 0.9933.
    torch.testing.assert_close(logits, torch.full((3,), 5.0))


@pytest.mark.parametrize("resolution", [28, 32, 64])
def test_dcgan_init_statistics(resolution):
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=100, channels=3, resolution=resolution, width=64)
    D = DCGANDiscriminator(channels=3, resolution=resolution, width=64)

    for net in (G, D):
        convs = [
            m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        ]
        norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        conv_weights = torch.cat([m.weight.flatten() for m in convs])
        norm_weights = torch.cat([m.weight.flatten() for m in norms])

        assert abs(conv_weights.mean().item()) < 1e-3
        assert conv_weights.std().item() == pytest.approx(0.02, rel=0.02)
        assert norm_weights.mean().item() == pytest.approx(1.0, abs=0.01)
        assert norm_weights.std().item() == pytest.approx(0.02, rel=0.25)
        for m in convs + norms:
            if m.bias is not None:
                assert (m.bias == 0).all()


@pytest.mark.parametrize("cls", [DCGANGenerator, DCGANDiscriminator])
def test_unsupported_resolution_names_valid_ones(cls):
    with pytest.raises(ValueError, match=r"resolution=48.*28, 32, 64"):
        cls(resolution=48)


def test_generator_rejects_image_shaped_latent():
    G = DCGANGenerator(latent_dim=10, resolution=28, width=8)
    with pytest.raises(ValueError, match=r"\[B, 10\].*\[2, 10, 1, 1\]"):
        G(torch.zeros(2, 10, 1, 1))


def test_discriminator_rejects_wrong_image_shape():
    D = DCGANDiscriminator(channels=1, resolution=32, width=8)
    with pytest.raises(ValueError, match=r"\[B, 1, 32, 32\].*\[2, 1, 28, 28\]"):
        D(torch.zeros(2, 1, 28, 28))


def test_mlp_architecture_of_ring_experiment(gen):
    G = MLPGenerator()
    D = MLPDiscriminator()

    samples = G(torch.randn(7, 10, generator=gen))
    logits = D(samples)

    assert G.latent_dim == 10
    assert G.output_shape == (2,)
    assert samples.shape == (7, 2)
    assert logits.shape == (7,)
    for net, first_in in ((G, 10), (D, 2)):
        linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
        tanhs = [m for m in net.modules() if isinstance(m, nn.Tanh)]
        assert [(m.in_features, m.out_features) for m in linears][:3] == [
            (first_in, 128),
            (128, 128),
            (128, 128),
        ]
        assert len(linears) == 4
        assert len(tanhs) == 3
    # Linear output: samples are not confined to tanh's range.
    with torch.no_grad():
        G.main[-1].bias.fill_(3.0)
    assert (G(torch.randn(2, 10, generator=gen)) > 1.0).all()


def test_build_networks_dcgan():
    G, D = build_networks("dcgan", latent_dim=12, channels=3, resolution=64, width=8)

    assert isinstance(G, DCGANGenerator) and isinstance(D, DCGANDiscriminator)
    assert G.output_shape == (3, 64, 64)
    assert D(G(torch.zeros(2, 12))).shape == (2,)


def test_build_networks_mlp_ring():
    G, D = build_networks("mlp", latent_dim=10, channels=2, resolution=1, width=32)

    assert isinstance(G, MLPGenerator) and isinstance(D, MLPDiscriminator)
    assert G.output_shape == (2,)
    assert G.main[0].out_features == 32
    assert D(G(torch.zeros(4, 10))).shape == (4,)


def test_build_networks_unknown_kind():
    with pytest.raises(ValueError, match=r"kind='resnet'.*dcgan, mlp"):
        build_networks("resnet", latent_dim=10, channels=1, resolution=28, width=8)
