/* SPDX-License-Identifier: MIT */
/* Names and texts of the rgpu error codes (also the wire's statuses). */
#include "rgpu/rgpu.h"

static const struct {
	const char *name, *text;
} errors[RGPU_ERR_COUNT_] = {
	[RGPU_SUCCESS] = { "RGPU_SUCCESS", "no error" },
	[RGPU_ERR_INVALID_VALUE] = { "RGPU_ERR_INVALID_VALUE",
				     "invalid argument" },
	[RGPU_ERR_MEMORY_ALLOCATION] = { "RGPU_ERR_MEMORY_ALLOCATION",
					 "out of device memory" },
	[RGPU_ERR_INVALID_DEVICE_POINTER] = {
		"RGPU_ERR_INVALID_DEVICE_POINTER",
		"not a device pointer of this session" },
	[RGPU_ERR_INVALID_DEVICE] = { "RGPU_ERR_INVALID_DEVICE",
				      "no such device" },
	[RGPU_ERR_NO_DEVICE] = { "RGPU_ERR_NO_DEVICE",
				 "no device available" },
	[RGPU_ERR_INVALID_PTX] = { "RGPU_ERR_INVALID_PTX",
				   "module rejected (see the JIT log)" },
	[RGPU_ERR_NOT_FOUND] = { "RGPU_ERR_NOT_FOUND",
				 "no kernel of that name in the module" },
	[RGPU_ERR_LAUNCH_FAILED] = { "RGPU_ERR_LAUNCH_FAILED",
				     "kernel launch failed" },
	[RGPU_ERR_NOT_SUPPORTED] = { "RGPU_ERR_NOT_SUPPORTED",
				     "not supported by this backend" },
	[RGPU_ERR_CONNECTION] = { "RGPU_ERR_CONNECTION",
				  "connection to the server failed or ended" },
	[RGPU_ERR_PROTOCOL] = { "RGPU_ERR_PROTOCOL",
				"malformed message" },
	[RGPU_ERR_BACKEND] = { "RGPU_ERR_BACKEND",
			       "the device driver failed" },
	[RGPU_ERR_NO_SERVER] = { "RGPU_ERR_NO_SERVER",
				 "no server address (set RGPU_SERVER)" },
	[RGPU_ERR_INVALID_HANDLE] = { "RGPU_ERR_INVALID_HANDLE",
				      "not a module of this session" },
	[RGPU_ERR_LIMIT] = { "RGPU_ERR_LIMIT",
			     "too many allocations or modules" },
};

const char *rgpu_error_name(rgpu_error_t e)
{
	return (unsigned)e < RGPU_ERR_COUNT_ ? errors[e].name : "RGPU_ERR_?";
}

const char *rgpu_error_string(rgpu_error_t e)
{
	return (unsigned)e < RGPU_ERR_COUNT_ ? errors[e].text
					     : "unknown error";
}
