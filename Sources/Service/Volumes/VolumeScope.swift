/// Docker's scope of a volume driver: `global`, a volume is one everywhere in the
/// cluster; `local`, it is the node's own (a volume of the same name on another
/// node is another volume).
public enum VolumeScope: String, Sendable {
    case global, local
}
