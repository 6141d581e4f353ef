//go:build linux

package wine

import (
	"bytes"
	"encoding/binary"
)

// processPrngShim is a Windows DLL, bcryptprimitives.dll, whose one export,
// ProcessPrng, forwards to advapi32's RtlGenRandom (SystemFunction036).
//
// Go programs since Go 1.22 cannot start without bcryptprimitives.dll's
// ProcessPrng (runtime: "fatal error: bcryptprimitives.dll not found").
// Windows 10 and later have it; Wine added it in 9.0, and Debian 12 ships
// Wine 8.0. Wine's own ProcessPrng is RtlGenRandom in a loop, and Go asks
// for far less than the 4 GiB a single call takes, so the forward is the
// same function. A forward needs no code: the DLL is headers and an export
// table, written here rather than committed as a binary.
func processPrngShim() []byte {
	const (
		rva        = 0x1000 // where the one section is mapped
		fileAlign  = 0x200
		exportsLen = 40 // IMAGE_EXPORT_DIRECTORY
	)
	const name, export, target = "bcryptprimitives.dll", "ProcessPrng", "advapi32.SystemFunction036"

	// The .rdata section: the export directory, its three one-entry
	// tables, then the strings they point to. An export whose address lies
	// inside the export directory is a forwarder string.
	nameRVA := uint32(rva + exportsLen + 4 + 4 + 2)
	exportRVA := nameRVA + uint32(len(name)+1)
	targetRVA := exportRVA + uint32(len(export)+1)
	var sec bytes.Buffer
	put := func(v any) { _ = binary.Write(&sec, binary.LittleEndian, v) }
	put(struct {
		Characteristics, TimeDateStamp               uint32
		MajorVersion, MinorVersion                   uint16
		Name, Base, NumberOfFunctions, NumberOfNames uint32
		AddressOfFunctions, AddressOfNames           uint32
		AddressOfNameOrdinals                        uint32
	}{Name: nameRVA, Base: 1, NumberOfFunctions: 1, NumberOfNames: 1,
		AddressOfFunctions: rva + exportsLen, AddressOfNames: rva + exportsLen + 4, AddressOfNameOrdinals: rva + exportsLen + 8})
	put(targetRVA) // the function: a forwarder
	put(exportRVA) // its name
	put(uint16(0)) // its ordinal, less Base
	sec.WriteString(name + "\x00" + export + "\x00" + target + "\x00")

	var f bytes.Buffer
	w := func(v any) { _ = binary.Write(&f, binary.LittleEndian, v) }
	dos := make([]byte, 0x40) // MS-DOS header: only the magic and e_lfanew matter
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], uint32(len(dos)))
	f.Write(dos)
	f.WriteString("PE\x00\x00")
	w(struct { // IMAGE_FILE_HEADER
		Machine, NumberOfSections                            uint16
		TimeDateStamp, PointerToSymbolTable, NumberOfSymbols uint32
		SizeOfOptionalHeader, Characteristics                uint16
	}{Machine: 0x8664, NumberOfSections: 1, SizeOfOptionalHeader: 240,
		Characteristics: 0x2000 | 0x0020 | 0x0002}) // DLL, large address aware, executable image
	var dirs [16][2]uint32
	dirs[0] = [2]uint32{rva, uint32(sec.Len())} // the export directory, forwarder strings included
	w(struct {                                  // IMAGE_OPTIONAL_HEADER64
		Magic                                         uint16
		MajorLinkerVersion, MinorLinkerVersion        uint8
		SizeOfCode, SizeOfInitializedData             uint32
		SizeOfUninitializedData, AddressOfEntryPoint  uint32
		BaseOfCode                                    uint32
		ImageBase                                     uint64
		SectionAlignment, FileAlignment               uint32
		MajorOSVersion, MinorOSVersion                uint16
		MajorImageVersion, MinorImageVersion          uint16
		MajorSubsystemVersion, MinorSubsystemVersion  uint16
		Win32VersionValue, SizeOfImage, SizeOfHeaders uint32
		CheckSum                                      uint32
		Subsystem, DllCharacteristics                 uint16
		SizeOfStackReserve, SizeOfStackCommit         uint64
		SizeOfHeapReserve, SizeOfHeapCommit           uint64
		LoaderFlags, NumberOfRvaAndSizes              uint32
		DataDirectory                                 [16][2]uint32
	}{Magic: 0x20b, SizeOfInitializedData: fileAlign, BaseOfCode: rva, ImageBase: 0x180000000,
		SectionAlignment: rva, FileAlignment: fileAlign, MajorOSVersion: 6, MajorSubsystemVersion: 6,
		SizeOfImage: 2 * rva, SizeOfHeaders: fileAlign,
		Subsystem: 3, DllCharacteristics: 0x0100, // console; NX compatible
		SizeOfStackReserve: 1 << 20, SizeOfStackCommit: 1 << 12, SizeOfHeapReserve: 1 << 20, SizeOfHeapCommit: 1 << 12,
		NumberOfRvaAndSizes: 16, DataDirectory: dirs})
	w(struct { // IMAGE_SECTION_HEADER
		Name                                                         [8]byte
		VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData uint32
		PointerToRelocations, PointerToLinenumbers                   uint32
		NumberOfRelocations, NumberOfLinenumbers                     uint16
		Characteristics                                              uint32
	}{Name: [8]byte{'.', 'r', 'd', 'a', 't', 'a'}, VirtualSize: uint32(sec.Len()), VirtualAddress: rva,
		SizeOfRawData: fileAlign, PointerToRawData: fileAlign,
		Characteristics: 0x40000000 | 0x00000040}) // readable, initialized data
	f.Write(make([]byte, fileAlign-f.Len()))
	f.Write(sec.Bytes())
	f.Write(make([]byte, 2*fileAlign-f.Len()))
	return f.Bytes()
}
