"""Code layer pieces: guest units rendered from the spec, enabled like `systemctl enable`."""

from __future__ import annotations

import pytest

from automation.spec.markers import Service
from automation.spec.units import DEFAULT_CONFIG_PATH, ENVIRONMENT_FILE, service_unit
from harness.errors import InfrastructureError
from harness.image.codelayer import add_units, guest_units, render_template, wanted_by, wrapper
from harness.image.cpio import Layer, iter_newc


def test_guest_units_are_fully_rendered_from_the_spec() -> None:
    units = guest_units()
    for service in Service:
        text = units[service_unit(service)]
        assert f"--cluster-config {DEFAULT_CONFIG_PATH}" in text
        assert "--health-delay 5" in text and "Restart=on-failure" in text
        assert f"EnvironmentFile=-{ENVIRONMENT_FILE}" in text
        assert f"StateDirectory={service.value}" in text
    inject = units["fba-inject.service"]
    assert all(service_unit(s) in inject for s in Service)
    for name, text in units.items():
        body = [line for line in text.splitlines() if not line.startswith("#")]
        assert not any("@" in line for line in body), name


def test_leftover_placeholder_is_an_error() -> None:
    with pytest.raises(InfrastructureError, match=r"left \['@NOPE@'\] unsubstituted"):
        render_template("ExecStart=/bin/x @NOPE@\n", {})


def test_wanted_by_symlinks_like_systemctl_enable() -> None:
    layer = Layer({"etc", "etc/systemd", "etc/systemd/system", "etc/systemd/system/multi-user.target.wants"})
    unit = "[Unit]\nDescription=x\n[Install]\nWantedBy=multi-user.target ssh.service\n"
    assert wanted_by(unit) == ["multi-user.target", "ssh.service"]
    add_units(layer, {"x.service": unit})
    links = {e.path: e.data.decode() for e in iter_newc(layer.to_bytes()) if e.is_symlink}
    assert links == {
        "etc/systemd/system/multi-user.target.wants/x.service": "/etc/systemd/system/x.service",
        "etc/systemd/system/ssh.service.wants/x.service": "/etc/systemd/system/x.service",
    }


def test_wrapper_sets_the_guest_site_path() -> None:
    text = wrapper("standins.chainfire:main").decode()
    assert text.startswith("#!/usr/bin/python3\n")
    assert "sys.path.insert(0, '/opt/fba/site')" in text and "from standins.chainfire import main" in text
