"""The model types as the workflow engine sees them: what each consumes and produces.

Read from the model type's own declaration (``consumes`` / ``produces`` on
``training.model_types``) when it has one; until every type declares them, this map stands
in for the two types the portal has.
"""

from workflows.operators import registry
from workflows.ports import PortType
from workflows.spec import ModelTypePorts, Port, Registry

FALLBACK = {
    "embedder": ((Port("image", PortType.IMAGE),), (Port("embedding", PortType.EMBEDDING),)),
    "context-classifier": (
        (Port("embedding", PortType.EMBEDDING),),
        (Port("concepts", PortType.CONCEPTS),),
    ),
}


def _ports(declared, optional=()) -> tuple[Port, ...]:
    """A type's declaration: Ports, port type names, or (name, type) pairs."""
    ports = []
    for item in declared:
        if isinstance(item, Port):
            ports.append(item)
        elif isinstance(item, str):
            ports.append(Port(item, PortType(item), required=item not in optional))
        else:
            name, kind = item[0], item[1]
            ports.append(Port(str(name), PortType(str(kind))))
    return tuple(ports)


def model_type_ports() -> list[ModelTypePorts]:
    from training import model_types

    found = []
    for key, spec in model_types.TYPES.items():
        key = str(key)
        consumes = getattr(spec, "consumes", None)
        produces = getattr(spec, "produces", None)
        if consumes is not None and produces is not None:
            found.append(
                ModelTypePorts(
                    key, _ports(consumes, getattr(spec, "optional", ())), _ports(produces)
                )
            )
        elif key in FALLBACK:
            found.append(ModelTypePorts(key, *FALLBACK[key]))
    return found


def portal_registry() -> Registry:
    """Every operator and every model type of the portal."""
    return registry(model_type_ports())
