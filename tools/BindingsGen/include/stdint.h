/* Minimal <stdint.h> for parsing hybridseq.h with libclang in tools/BindingsGen (see stddef.h for why).
 * The generator maps these typedef names to C# types by name (int32_t -> int, ...), so only the names and
 * sizes matter here. */
#ifndef HS_BINDINGSGEN_STDINT_H
#define HS_BINDINGSGEN_STDINT_H

typedef __INT8_TYPE__ int8_t;
typedef __INT16_TYPE__ int16_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INTPTR_TYPE__ intptr_t;
typedef __UINTPTR_TYPE__ uintptr_t;

#endif
