/* SPDX-License-Identifier: MIT
 *
 * How a phone's SIP UA hands a request over to checksyncd
 * (org.checksyncd.Handoff1.HandleRequest) with sd-bus, and what it does
 * with the answer. README.md, "On a phone whose UA owns the SIP port",
 * quotes hand_over(). Built and run by the tests (test_handoff.py), so
 * the example stays true:
 *
 *   handoff-call [--bus ADDRESS] FILE TRANSPORT REMOTE [REGISTRAR_FLOW]
 *
 * reads the request from FILE and prints the answer's status line, its
 * headers, and the whole answer.
 *
 * A real UA makes the call asynchronously (sd_bus_call_method_async() on the
 * bus it already runs in its loop) and answers inside its own server
 * transaction when the reply comes: for a served check-sync that is once
 * the provisioning process accepted, up to about 2 s later. This example
 * makes the one call synchronously to stay short.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

/* Hand the request over; print what to answer. Returns 0, or a negative
 * errno (a D-Bus error is printed: answer 500, or 503 for ...Error.Busy). */
static int hand_over(sd_bus *bus, const void *request, size_t size, const char *transport,
		     const char *remote, int registrar_flow)
{
	sd_bus_message *call = NULL, *reply = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r = sd_bus_message_new_method_call(bus, &call, "org.checksyncd.CheckSync1",
					       "/org/checksyncd/CheckSync1",
					       "org.checksyncd.Handoff1", "HandleRequest");
	if (r >= 0)
		r = sd_bus_message_append_array(call, 'y', request, size);
	if (r >= 0)
		r = sd_bus_message_append(call, "a{sv}", 3, "transport", "s", transport,
					  "remote", "s", remote, "registrar_flow", "b",
					  registrar_flow);
	/* Up to 2 s for the provisioning process, and a little more. */
	if (r >= 0)
		r = sd_bus_call(bus, call, 3 * 1000 * 1000, &error, &reply);
	if (r < 0) {
		fprintf(stderr, "HandleRequest: %s: %s\n", error.name ? error.name : "",
			error.message ? error.message : strerror(-r));
		goto out;
	}

	uint16_t status = 0;
	const char *reason = NULL;
	r = sd_bus_message_read(reply, "qs", &status, &reason);
	if (r >= 0 && status == 0) {
		/* No answer at all: the source filter drops its source. */
		printf("no answer\n");
		goto out;
	}
	if (r >= 0)
		printf("SIP/2.0 %u %s\n", status, reason);
	/* The headers to add to the UA's own answer, in order. */
	if (r >= 0)
		r = sd_bus_message_enter_container(reply, 'a', "(ss)");
	while (r >= 0) {
		const char *name = NULL, *value = NULL;
		r = sd_bus_message_read(reply, "(ss)", &name, &value);
		if (r <= 0)
			break;
		printf("%s: %s\n", name, value);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(reply);
	/* Or the whole answer, for a UA that forwards bytes. */
	const void *response = NULL;
	size_t length = 0;
	if (r >= 0)
		r = sd_bus_message_read_array(reply, 'y', &response, &length);
	if (r >= 0)
		printf("--\n%.*s", (int)length, (const char *)response);
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(call);
	return r < 0 ? r : 0;
}

int main(int argc, char **argv)
{
	const char *address = NULL;
	if (argc > 2 && strcmp(argv[1], "--bus") == 0) {
		address = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: handoff-call [--bus ADDRESS] FILE TRANSPORT REMOTE "
				"[REGISTRAR_FLOW]\n");
		return 64;
	}
	FILE *file = fopen(argv[1], "rb");
	if (!file) {
		perror(argv[1]);
		return 1;
	}
	char request[8193];
	size_t size = fread(request, 1, sizeof(request), file);
	fclose(file);

	sd_bus *bus = NULL;
	int r = 0;
	if (address) {
		r = sd_bus_new(&bus);
		if (r >= 0)
			r = sd_bus_set_address(bus, address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, 1);
		if (r >= 0)
			r = sd_bus_start(bus);
	} else {
		r = sd_bus_open_system(&bus);
	}
	if (r >= 0)
		r = hand_over(bus, request, size, argv[2], argv[3],
			      argc == 5 && strcmp(argv[4], "true") == 0);
	else
		fprintf(stderr, "cannot connect to the bus: %s\n", strerror(-r));
	sd_bus_flush_close_unref(bus);
	return r < 0 ? 1 : 0;
}
