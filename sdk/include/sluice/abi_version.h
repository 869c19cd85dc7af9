/*
 * Sluice plugin ABI version.
 *
 * MAJOR changes when an existing type, slot or meaning changes: every plugin must be rebuilt.
 * MINOR changes when something is appended (a host-table group, a vtable slot, an enum value) or
 * a behaviour is promised that a plugin may rely on (1.2: body_get of a replaced message; 1.3:
 * response headers set in the request phase go on the backend's answer; 1.4: and those removed
 * then are taken off it; 1.5: create and destroy run on the control thread, never a worker;
 * 1.6: header_add never makes a second field of a one-value name, and a request one Cookie):
 * a plugin built for X.Y loads into a runtime X.Z if and only if Z >= Y.
 *
 * Every edit of abi.h must bump one of these; tests/unit/AbiPinTest.cpp pins a hash of abi.h.
 */
#ifndef SLUICE_ABI_VERSION_H
#define SLUICE_ABI_VERSION_H

#define SLUICE_ABI_MAJOR 1
#define SLUICE_ABI_MINOR 6

#define SLUICE_ABI_STR2_(x) #x
#define SLUICE_ABI_STR_(x) SLUICE_ABI_STR2_(x)
#define SLUICE_ABI_VERSION_STRING SLUICE_ABI_STR_(SLUICE_ABI_MAJOR) "." SLUICE_ABI_STR_(SLUICE_ABI_MINOR)

#define SLUICE_ENTRY_CAT2_(a, b) a##b
#define SLUICE_ENTRY_CAT_(a, b) SLUICE_ENTRY_CAT2_(a, b)
/* The one symbol a plugin exports: sluice_plugin_entry_v<MAJOR>. */
#define SLUICE_ENTRY_FUNCTION SLUICE_ENTRY_CAT_(sluice_plugin_entry_v, SLUICE_ABI_MAJOR)
#define SLUICE_ENTRY_SYMBOL "sluice_plugin_entry_v" SLUICE_ABI_STR_(SLUICE_ABI_MAJOR)

#endif
