// The generated bindings pass only blittable types (pointers, primitives, enums, sequential structs of those), so
// runtime marshalling is turned off: every [LibraryImport] is a direct call with no marshalling stub, and the
// compiler rejects any signature that would need one.
[assembly: System.Runtime.CompilerServices.DisableRuntimeMarshalling]
