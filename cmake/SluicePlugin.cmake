# sluice_add_plugin(<name> SOURCES <src>... [SCHEMA <schema.json>] [LINK_LIBRARIES <lib>...]
#                   [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds <name>.so, a Sluice plugin: a MODULE library against Sluice::sdk with every symbol
# hidden except the single entry point, and no undefined symbols left to the runtime.
# With SCHEMA, the JSON Schema file is compiled in: `#include "<name>_schema.h"` gives
# `<name>_schema::kConfigSchema`, the schema text.
# Used in-tree and shipped in the sluice-dev package (find_package(SluiceSDK)).
include_guard(GLOBAL)

if(NOT DEFINED SLUICE_PLUGIN_INSTALL_DIR)
    if(DEFINED SLUICE_INSTALL_PLUGINDIR)
        set(SLUICE_PLUGIN_INSTALL_DIR "${SLUICE_INSTALL_PLUGINDIR}")
    else()
        set(SLUICE_PLUGIN_INSTALL_DIR "lib/sluice/plugins")
    endif()
endif()

function(sluice_add_plugin name)
    cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY;SCHEMA" "SOURCES;LINK_LIBRARIES" ${ARGN})
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "sluice_add_plugin(${name}): SOURCES is required")
    endif()
    add_library(${name} MODULE ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE Sluice::sdk ${ARG_LINK_LIBRARIES})
    if(TARGET Sluice::warnings)
        target_link_libraries(${name} PRIVATE Sluice::warnings)
    endif()
    set_target_properties(${name} PROPERTIES
        PREFIX ""
        C_VISIBILITY_PRESET hidden
        CXX_VISIBILITY_PRESET hidden
        VISIBILITY_INLINES_HIDDEN ON)
    target_link_options(${name} PRIVATE "LINKER:--no-undefined" "LINKER:-z,now")
    if(ARG_SCHEMA)
        get_filename_component(schema_path "${ARG_SCHEMA}" ABSOLUTE)
        file(READ "${schema_path}" schema_text)
        set(generated_dir "${CMAKE_CURRENT_BINARY_DIR}/${name}_generated")
        file(CONFIGURE OUTPUT "${generated_dir}/${name}_schema.h" CONTENT
"#pragma once
// Generated from @ARG_SCHEMA@ by sluice_add_plugin() - do not edit.
namespace @name@_schema {
inline constexpr const char kConfigSchema[] = R\"sluice_schema(@schema_text@)sluice_schema\";
}
" @ONLY)
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${schema_path}")
        target_include_directories(${name} PRIVATE "${generated_dir}")
    endif()
    if(ARG_OUTPUT_DIRECTORY)
        set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
    elseif(DEFINED SLUICE_PLUGIN_OUTPUT_DIRECTORY)
        set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${SLUICE_PLUGIN_OUTPUT_DIRECTORY}")
    endif()
    if(NOT ARG_NO_INSTALL)
        install(TARGETS ${name} LIBRARY DESTINATION "${SLUICE_PLUGIN_INSTALL_DIR}" COMPONENT runtime)
    endif()
endfunction()
