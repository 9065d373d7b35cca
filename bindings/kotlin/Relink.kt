// bindings/kotlin/Relink.kt — a sketch of a Kotlin (JVM) wrapper over relink's C API with the Foreign Function &
// Memory API (java.lang.foreign, final in Java 22). Untested: this machine has Java 17 and no kotlinc
// (docs/bindings.md). On Android, where java.lang.foreign does not exist, the same class sits on JNI instead: a
// small C file of `Java_..._nextEvent` functions that call relink_client_next_event() and build Kotlin objects
// (docs/bindings.md shows its shape).
//
// For the full API, generate the declarations rather than writing them: the JDK's jextract reads relink.h and writes
// a class with a MethodHandle per function and a layout per struct:
//     jextract --target-package relink.ffi --library relink -I include include/relink/relink.h
// The hand-written handles below show the shape for the calls of a login and one event.
package relink

import java.lang.foreign.Arena
import java.lang.foreign.FunctionDescriptor
import java.lang.foreign.Linker
import java.lang.foreign.MemorySegment
import java.lang.foreign.SymbolLookup
import java.lang.foreign.ValueLayout.ADDRESS
import java.lang.foreign.ValueLayout.JAVA_INT
import java.lang.foreign.ValueLayout.JAVA_LONG
import java.lang.invoke.MethodHandle

class RelinkException(val code: Int, val codeName: String, detail: String? = null) :
    Exception(if (detail != null) "$codeName: $detail" else codeName)

private object C {
    private val linker = Linker.nativeLinker()
    private val lib = SymbolLookup.libraryLookup(System.getenv("RELINK_LIBRARY") ?: "librelink.so.1", Arena.global())

    private fun fn(name: String, descriptor: FunctionDescriptor): MethodHandle =
        linker.downcallHandle(lib.find(name).orElseThrow(), descriptor)

    val errorName = fn("relink_error_name", FunctionDescriptor.of(ADDRESS, JAVA_INT))
    val stateName = fn("relink_state_name", FunctionDescriptor.of(ADDRESS, JAVA_INT))
    val configNew = fn("relink_config_new", FunctionDescriptor.of(ADDRESS))
    val configFree = fn("relink_config_free", FunctionDescriptor.ofVoid(ADDRESS))
    val setString = listOf("url", "app_id", "user_id", "token", "tls_ca_file").associateWith {
        fn("relink_config_set_$it", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS))
    }
    val clientNew = fn("relink_client_new", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG))
    val clientFree = fn("relink_client_free", FunctionDescriptor.ofVoid(ADDRESS))
    val login = fn("relink_client_login", FunctionDescriptor.of(JAVA_INT, ADDRESS))
    val nextEvent = fn("relink_client_next_event", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS))
    val eventFree = fn("relink_event_free", FunctionDescriptor.ofVoid(ADDRESS))

    fun name(handle: MethodHandle, value: Int): String =
        (handle.invoke(value) as MemorySegment).reinterpret(Long.MAX_VALUE).getString(0)

    fun check(code: Int) {
        if (code != 0) throw RelinkException(code, name(errorName, code))
    }
}

/** An event as the app reads it: its type (RELINK_EVENT_*) and, for state changes, the state's canonical name. */
data class RelinkEvent(val type: Int, val state: String?)

/** relink_client in queue mode: events are pulled with nextEvent() on a thread (or coroutine dispatcher) of the app. */
class RelinkClient(url: String, appId: String, userId: String, token: String, caFile: String? = null) : AutoCloseable {
    private val handle: MemorySegment

    init {
        Arena.ofConfined().use { arena ->
            val config = C.configNew.invoke() as MemorySegment
            try {
                val values = mapOf("url" to url, "app_id" to appId, "user_id" to userId, "token" to token,
                                   "tls_ca_file" to caFile)
                for ((name, value) in values) {
                    if (value != null) C.check(C.setString.getValue(name).invoke(config, arena.allocateFrom(value)) as Int)
                }
                val out = arena.allocate(ADDRESS)
                val why = arena.allocate(512)
                val code = C.clientNew.invoke(config, out, why, 512L) as Int
                if (code != 0) throw RelinkException(code, C.name(C.errorName, code), why.getString(0))
                handle = out.get(ADDRESS, 0)
            } finally {
                C.configFree.invoke(config)
            }
        }
    }

    fun login() = C.check(C.login.invoke(handle) as Int)

    /** The next event, or null after timeoutMs. relink_event is read through the pointer the library returns; its
     *  offsets come from jextract's layout in a real binding (here only `type` at 0 and `state` at 4). */
    fun nextEvent(timeoutMs: Int): RelinkEvent? = Arena.ofConfined().use { arena ->
        val out = arena.allocate(ADDRESS)
        C.check(C.nextEvent.invoke(handle, timeoutMs, out) as Int)
        val event = out.get(ADDRESS, 0)
        if (event == MemorySegment.NULL) return null
        try {
            val e = event.reinterpret(8)
            val type = e.get(JAVA_INT, 0)
            RelinkEvent(type, if (type == 1) C.name(C.stateName, e.get(JAVA_INT, 4)) else null)
        } finally {
            C.eventFree.invoke(event)
        }
    }

    override fun close() {
        C.clientFree.invoke(handle)  // logs out, stops; bounded
    }
}
