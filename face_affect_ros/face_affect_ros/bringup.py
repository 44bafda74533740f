"""What launch/face_affect.launch.py starts, as plain data: nodes and exactly what each is given.

Why outside the launch file: `launch` is the only thing that can run a launch file, and a robot's
bringup is where its behaviour matters. Keeping the decisions here (which nodes a layout has, which
topic each is remapped to, which parameter sources it gets in which order, which environment) lets
the launch file be a thin translation into launch_ros Nodes, and lets the tests start the very same
nodes with the very same command line (`NodeSpec.command`) where `launch` is not installed.

Nothing here imports ROS or launch. The rules a bringup can rely on:

* Namespace: `namespace` is relative ("robot1"), so it nests under a namespace the including
  bringup pushes; empty means the bringup's (or the root) namespace.
* Parameters: the parameter file first, then only the launch arguments the user actually gave
  (`image_transport` empty = whatever the parameter file says). A user's file is never overridden
  by a launch-argument default it did not ask for.
* Environment: only the Fast DDS profile, per node, under the variable name the installed Fast DDS
  reads (empty `fastdds_profile` = the nodes inherit the bringup's). No RMW is chosen here: the
  nodes use whatever RMW_IMPLEMENTATION the robot runs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from face_affect_ros import ros_env

PACKAGE = "face_affect_ros"

#: Nodes of each layout (executable = node name).
LAYOUTS: dict[str, tuple[str, ...]] = {
    "single": ("face_affect_node",),
    "split": ("camera_node", "detector_node", "classifier_node"),
}
#: The nodes that localise faces (and so read camera_info for 3D).
LOCALISING_NODES = ("face_affect_node", "detector_node")
#: The nodes that read the camera (and so get the camera remapping).
CAMERA_NODES = ("face_affect_node", "camera_node")
#: Allowed values of the image_transport launch argument; "" = the parameter file decides.
IMAGE_TRANSPORTS = ("", "raw", "compressed")
#: The REP-155 output node (launch argument hri), added to either layout.
HRI_NODE = "hri_node"
#: What hri_node reads its frames from in the split layout: camera_node's decoded frames (raw).
SPLIT_FRAMES_TOPIC = "face_affect/frames"


@dataclass(frozen=True)
class NodeSpec:
    """One node as the launch file starts it."""

    executable: str
    namespace: str = ""
    params_files: tuple[str, ...] = ()
    #: Parameters set after the files (launch arguments the user gave), in this order.
    parameters: tuple[tuple[str, str], ...] = ()
    remappings: tuple[tuple[str, str], ...] = ()
    #: Environment added to the inherited one, for this node only.
    env: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "info"

    @property
    def name(self) -> str:
        """Node name (the executable's)."""
        return self.executable

    def ros_args(self) -> list[str]:
        """The `--ros-args` launch_ros gives this node (namespace absolute: no bringup around)."""
        args = ["--ros-args", "--log-level", self.log_level, "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:=/{self.namespace.strip('/')}"]
        for path in self.params_files:
            args += ["--params-file", path]
        for key, value in self.parameters:
            args += ["-p", f"{key}:={value}"]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args

    def command(self) -> list[str]:
        """A command line that starts this node from this interpreter, as launch would."""
        return [sys.executable, "-m", f"{PACKAGE}.nodes.{self.executable}", *self.ros_args()]


def camera_info_topic(camera_topic: str) -> str:
    """The camera_info topic beside an image topic (image_transport's rule)."""
    head, sep, _ = camera_topic.rstrip("/").rpartition("/")
    return f"{head}{sep}camera_info"


def node_specs(
    *,
    layout: str = "single",
    camera_topic: str = "/camera/image_raw",
    image_transport: str = "",
    namespace: str = "",
    params_file: str = "",
    fastdds_profile: str = "",
    log_level: str = "info",
    hri: bool = False,
) -> list[NodeSpec]:
    """The nodes of `layout` and what each is given; arguments are the launch file's.

    `hri` adds hri_node (REP-155 topics from our results): it reads `face_affect` in the same
    namespace and, for its cropped / aligned chips, the camera (single layout, with the camera
    remappings and the chosen transport) or camera_node's raw `face_affect/frames` (split layout).

    Raises:
        ValueError: an argument has a value the launch file does not accept.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: one of {', '.join(LAYOUTS)}")
    if image_transport not in IMAGE_TRANSPORTS:
        raise ValueError(f"image_transport {image_transport!r}: raw, compressed or empty")
    parameters = (("input_transport", image_transport),) if image_transport else ()
    env = ros_env.profile_env(fastdds_profile) if fastdds_profile else {}
    camera_remaps = (("image", camera_topic), ("image/compressed", f"{camera_topic}/compressed"))
    # camera_info is the camera topic's sibling, as image_transport's camera subscribers find it
    # (/cam/image_raw -> /cam/camera_info); the nodes that localise faces in 3D read it.
    info_remaps = (("camera_info", camera_info_topic(camera_topic)),)
    specs = [
        NodeSpec(
            executable=executable,
            namespace=namespace.strip("/"),
            params_files=(params_file,) if params_file else (),
            parameters=parameters,
            remappings=(camera_remaps if executable in CAMERA_NODES else ())
            + (info_remaps if executable in LOCALISING_NODES else ()),
            env=env,
            log_level=log_level,
        )
        for executable in LAYOUTS[layout]
    ]
    if hri:
        split = layout == "split"
        specs.append(
            NodeSpec(
                executable=HRI_NODE,
                namespace=namespace.strip("/"),
                params_files=(params_file,) if params_file else (),
                # camera_node republishes every frame decoded, as raw Images.
                parameters=(("input_transport", "raw"),) if split else parameters,
                remappings=(("image", SPLIT_FRAMES_TOPIC),) if split else camera_remaps,
                env=env,
                log_level=log_level,
            )
        )
    return specs
