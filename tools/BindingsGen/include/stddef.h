/* Minimal <stddef.h> for parsing hybridseq.h with libclang in tools/BindingsGen.
 * The generator parses with -nostdinc, so neither the system's headers nor clang's resource headers (which the
 * libclang NuGet package does not ship) are needed, and the output is the same on every machine. The types come
 * from the compiler's predefined macros for the fixed --target. */
#ifndef HS_BINDINGSGEN_STDDEF_H
#define HS_BINDINGSGEN_STDDEF_H

typedef __SIZE_TYPE__ size_t;
typedef __PTRDIFF_TYPE__ ptrdiff_t;

#define NULL ((void*)0)
#define offsetof(type, member) __builtin_offsetof(type, member)

#endif
