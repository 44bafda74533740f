"""face_affect_ros.ros_env: domain ids Fast DDS accepts, the profile under one name only."""

from __future__ import annotations

from pathlib import Path

import pytest

from face_affect_ros import ros_env


def test_domain_blocks_stay_in_fast_dds_range_and_are_aligned() -> None:
    seen = set()
    for _ in range(2000):
        block = ros_env.domain_id_block(4)
        assert block == list(range(block[0], block[0] + 4))
        assert block[0] >= 1 and block[-1] <= ros_env.DOMAIN_ID_MAX
        assert (block[0] - 1) % 4 == 0  # two runs share all four ids or none
        seen.add(block[0])
    assert len(seen) == ros_env.DOMAIN_ID_MAX // 4  # every block is reachable
    assert all(1 <= ros_env.random_domain_id() <= 232 for _ in range(2000))
    with pytest.raises(ValueError, match=r"0\.\.232"):
        ros_env.random_domain_id(233, 300)


def test_profile_is_set_under_the_name_the_installed_fast_dds_reads() -> None:
    right = ros_env.profiles_file_variable()
    other = ({ros_env.FASTDDS_VARIABLE, ros_env.FASTRTPS_VARIABLE} - {right}).pop()
    env = {other: "/robot/discovery_server.xml"}
    assert ros_env.set_profile(env, "/ours.xml") == "/ours.xml"
    assert env == {right: "/ours.xml"}
    # A profile the user set under either name is kept (moved to the name that is read).
    env = {other: "/robot/discovery_server.xml"}
    ros_env.set_profile(env, "/ours.xml", keep_existing=True)
    assert env == {right: "/robot/discovery_server.xml"}
    assert ros_env.profile_env("/ours.xml") == {right: "/ours.xml"}


def test_installed_fast_dds_is_the_distro_s() -> None:
    major = ros_env.fastdds_major()
    assert major == (2 if ros_env.ros_distro() == "jazzy" else 3)
    assert ros_env.profiles_file_variable() == (
        ros_env.FASTRTPS_VARIABLE if major == 2 else ros_env.FASTDDS_VARIABLE
    )


def test_apt_and_colcon_installs_are_told_apart_without_a_wheel(tmp_path: Path) -> None:
    for package, version in (("fastrtps", "2.14.5"), ("fastdds", "3.2.3")):
        share = tmp_path / package / "share" / package
        share.mkdir(parents=True)
        (share / "package.xml").write_text(f"<package><version>{version}</version></package>")
    jazzy = {"AMENT_PREFIX_PATH": f"/nonexistent:{tmp_path / 'fastrtps'}"}
    kilted = {"AMENT_PREFIX_PATH": str(tmp_path / "fastdds")}
    assert ros_env.fastdds_major_from_environment(jazzy) == 2
    assert ros_env.fastdds_major_from_environment(kilted) == 3
    # No ament prefix with Fast DDS in it: a sourced setup.bash's ROS_DISTRO decides.
    assert ros_env.fastdds_major_from_environment({"ROS_DISTRO": "jazzy"}) == 2
    assert ros_env.fastdds_major_from_environment({"ROS_DISTRO": "kilted"}) == 3
